"""Lean processes: a capture loads PyAV and pyzmq, not numpy, the model's run time, pydantic or asyncio; a worker loads
neither pydantic nor OpenCV; the supervisor (`dfd watch` itself) loads no model run time, OpenCV or PyAV. Checked in
fresh interpreters."""

from __future__ import annotations

import pickle
import subprocess
import sys

from tests.stream_clips import make_clip

MODEL_RUN_TIME = {"onnxruntime", "torch", "torchvision"}


def loaded(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", f"{code}\nimport sys\nprint(','.join(sys.modules))"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return {name.split(".")[0] for name in out.stdout.strip().split(",")}


def test_a_capture_process_loads_no_model_run_time_no_opencv_no_pydantic_and_no_numpy(tmp_path):
    """A capture only encodes messages, and its settings come as a plain dataclass: pydantic with the config's
    and the messages' schemas is 14 MiB of each capture, asyncio (ZeroMQ's CURVE authenticator) 7. It copies
    PyAV's converted frames into its ring as they are: numpy was another 17 MiB. Here a clip's frames go through
    the capture's reader into a real ring, as in a capture."""
    clip = str(make_clip(tmp_path / "a.mp4", seconds=0.5))
    top = loaded("import pickle, os\nfrom stream.capture import run_captures\n"
                 f"pickle.loads({capture_spec_pickle()!r})\n"
                 "from stream.ring import FrameRing, RingSpec\nfrom stream.sources import fit_within, make_source, read_frames\n"
                 "ring = FrameRing.create(RingSpec(f'dfd-lean-{os.getpid()}', 2, 640, 480))\n"
                 f"n = sum(1 for f in read_frames(make_source({clip!r}), fit_within(640, 480), False) if ring.write(f, 0.0))\n"
                 "ring.close()\nring.unlink()\nassert n > 0, n")
    assert {"av", "zmq"} <= top
    heavy = MODEL_RUN_TIME | {"cv2", "rich", "pymysql", "pydantic", "asyncio", "numpy"}
    assert not heavy & top, sorted(heavy & top)


def capture_spec_pickle() -> bytes:
    """What the supervisor hands a capture, as it travels: unpickling it must not load pydantic either."""
    from stream.capture_spec import CaptureSettings, CaptureSpec
    from stream.config import StreamSection
    from stream.shm import RingSpec
    from stream.sources import Source
    from stream.transport import Endpoint

    ep = Endpoint("ipc", path="/tmp/x")
    return pickle.dumps(CaptureSpec(Source("cam", "a.mp4", "file"), ep, ep, RingSpec("r", 2, 64, 64),
                                    CaptureSettings.of(StreamSection())))


def test_a_worker_process_loads_no_pydantic_and_no_opencv(tiny_model, tmp_path):
    """A worker's settings come as plain dataclasses and it decodes its frame headers by hand: pydantic with the
    config's and the messages' schemas was 15 MiB of each worker. Its crops, the detector's input and the
    evidence JPEGs are NumPy and PyAV: OpenCV was 42 MiB more. Here a worker unpickles its spec, builds its
    pipeline, takes a frame header off the wire, crops a face, runs the detector and saves an alert's evidence."""
    top = loaded("import pickle\nimport numpy as np\nfrom stream.worker import Worker\n"
                 "from stream.wire import read_frame_parts\n"
                 f"spec = pickle.loads({worker_spec_pickle(tiny_model)!r})\n"
                 "from edge_model.pipeline import build_pipeline\nfrom edge_model.crop import crop_face\n"
                 "p = build_pipeline(spec.settings.pipeline, spec.settings.model_path)\n"
                 "read_frame_parts([b'frame {\"stream\":\"a\",\"slot\":0,\"seq\":1,\"ts\":1.0,\"width\":2,\"height\":2}'])\n"
                 "frame = np.full((48, 64, 3), 128, np.uint8)\np.process(frame, 0, 0.0)\n"
                 "crop = crop_face(frame, np.array([8.0, 8.0, 40.0, 40.0]), None, p.runner.manifest.crop)\n"
                 "from stream.evidence import EvidenceWriter\n"
                 f"EvidenceWriter({str(tmp_path)!r}).save('a', 'x', frame, [crop] * 4, 10.0)")
    assert {"onnxruntime", "numpy", "zmq", "av"} <= top
    heavy = {"pydantic", "pydantic_core", "torch", "cv2"}
    assert not heavy & top, sorted(heavy & top)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x-clip.mp4", "x-face.jpg", "x-frame.jpg"]


def worker_spec_pickle(model) -> bytes:
    """What the supervisor hands a worker, as it travels."""
    from edge_model.manifest import load_manifest
    from stream.config import load_config
    from stream.transport import Endpoint
    from stream.worker_spec import WorkerSettings, WorkerSpec

    cfg = load_config(None, {"model.path": str(model)})
    ep = Endpoint("ipc", path="/tmp/x")
    return pickle.dumps(WorkerSpec("w0", {"a": ep}, ep, WorkerSettings.of(cfg, load_manifest(model).threshold)))


def test_the_supervisor_loads_no_model_run_time_no_opencv_no_pyav_and_no_numpy(tmp_path):
    """OpenCV alone is 54 MiB of a process's memory, PyAV 21, numpy 20: the supervisor reads a manifest, checks
    the evidence folder and creates the rings without them, and looks into a file source from a forked child."""
    clip = str(make_clip(tmp_path / "a.mp4", seconds=0.5))
    top = loaded("from stream.cli import _parse\n_parse(['watch'])\nimport stream.supervisor, stream.worker_spec\n"
                 f"from stream.sources import make_source\nmake_source({clip!r})")
    heavy = MODEL_RUN_TIME | {"cv2", "av", "numpy"}
    assert "stream" in top and not heavy & top, sorted(heavy & top)


def test_integrations_that_are_off_load_nothing():
    """open_integrations with every integration off (the default) loads neither the web page's OpenCV nor paho."""
    top = loaded("from stream.config import load_config\nfrom stream.sinks.integrations import open_integrations\n"
                 "open_integrations(load_config(None, {}), ['a'], 'm').close(0.1)")
    assert not {"cv2", "paho", "prometheus_client"} & top, sorted({"cv2", "paho", "prometheus_client"} & top)
