"""Classifier accuracy and training time, beside pytorch/examples' MNIST `Net` trained for as long.

    python -m benchmarks.classifier [--epochs N] [--folder N [N ...]] [--skip-scratch]
                                    [--skip-pretrained] [--pictures FOLDER [FOLDER ...]]

1. From scratch on Fashion-MNIST (Debian's dataset-fashion-mnist, 28 px grey): our training job with the
   scratch route's defaults (it keeps 10% of the training images for validation and early stopping),
   then the 10,000 test images. Then pytorch/examples' MNIST `Net` (conv 32 - conv 64 - max-pool -
   dropout 0.25 - fc 128 - dropout 0.5 - fc 10; Adadelta lr 1.0, StepLR gamma 0.7 per epoch, batch 64)
   trains on all the training images for the same wall time, and is tested on the same test images.
   With --folder N (e.g. --folder 20000 60000), the path a user takes instead: the first N training
   pictures and the test set are written as PNG files, one subfolder per class, and our time includes
   reading the folder (`open_classes`, as the CLI and the window do) and the accuracy is measured on the
   test folder.
2. The pretrained route (EfficientNet-Lite0, frozen features + linear head, the defaults) with 20 and 100
   training images per class of a set assembled here: one class per JPEG or PNG picture in the --pictures
   folders (default: resources/images and tests/data, 7 classes: the app's built-in sample, Dusk and Ocean,
   and the four paintings Mondrian, the Shipwreck, the Starry Night and the Scream), each image a random
   crop of 25-60% of the picture's side. Training crops come from the left 60% of each picture and the 50
   test crops per class from the right 40%, so no test pixel was seen in training: "which scene is this
   patch from".
"""

import argparse
import random
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from core.checkpoints import read_info
from core.classifier.jobs import EvaluateJob
from core.classifier.training import ClassifierTrainingJob, open_classes
from core.data import ImageSet
from core.devices import describe, pick_device
from core.jobs import Event, Message, run_job

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PICTURES = [REPO / "resources" / "images", REPO / "tests" / "data"]
SCENE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class MnistNet(nn.Module):
    """pytorch/examples' mnist/main.py network, written from its description."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout1, self.dropout2 = nn.Dropout(0.25), nn.Dropout(0.5)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x: Tensor) -> Tensor:
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        x = self.dropout2(F.relu(self.fc1(torch.flatten(self.dropout1(x), 1))))
        return F.log_softmax(self.fc2(x), dim=1)


def normalised(images: Tensor) -> Tensor:
    """uint8 (N, 1, 28, 28) -> float, normalised as the example does (MNIST's mean and std)."""
    return (images.float() / 255 - 0.1307) / 0.3081


def train_mnist_net(
    train: ImageSet, test: ImageSet, seconds: float, device: torch.device
) -> tuple[float, int]:
    """(test accuracy, images seen) of `MnistNet` after `seconds` of training."""
    assert train.labels is not None
    assert test.labels is not None
    torch.manual_seed(1)
    net = MnistNet().to(device)
    optimizer = torch.optim.Adadelta(net.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    images, labels = normalised(train.images), train.labels
    seen, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        net.train()
        for batch in torch.split(torch.randperm(len(images)), 64):
            optimizer.zero_grad()
            F.nll_loss(net(images[batch].to(device)), labels[batch].to(device)).backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            seen += len(batch)
            if time.monotonic() - start >= seconds:
                break
        schedule.step()
    net.eval()
    with torch.inference_mode():
        predicted = torch.cat(
            [net(x.to(device)).argmax(1).cpu() for x in torch.split(normalised(test.images), 1000)]
        )
    return float((predicted == test.labels).float().mean()), seen


def export_folders(root: Path, n_train: int) -> tuple[Path, Path]:
    """The first `n_train` Fashion-MNIST training pictures and all test pictures as 28 px grey PNG files,
    one subfolder per class, as a user who exported them would have them: (train folder, test folder)."""
    for split, count in (("train", n_train), ("test", None)):
        data = ImageSet.fashion_mnist(split)
        assert data.labels is not None
        names = [name.replace("/", "-") for name in data.class_names]  # "T-shirt/top" is no folder name
        for folder in names:
            (root / split / folder).mkdir(parents=True)
        for i, (image, label) in enumerate(zip(data.images[:count], data.labels[:count], strict=True)):
            Image.fromarray(image[0].numpy(), "L").save(root / split / names[label] / f"{i:05d}.png")
    return root / "train", root / "test"


def scratch(epochs: int | None, device: torch.device, folder_size: int | None) -> None:
    """Ours with the defaults on the built-in set (folder_size None) or on a folder of PNG files, then the
    MNIST Net for as long on the same training images."""
    with tempfile.TemporaryDirectory() as folder:
        source: ImageSet | Path = ImageSet.fashion_mnist("train")
        test_spec: str | Path = "fashion-mnist"
        what = "built-in set"
        if folder_size is not None:
            source, test_spec = export_folders(Path(folder) / "pictures", folder_size)
            what = f"a folder of {folder_size:,} PNG files"
        start = time.monotonic()
        train = source if isinstance(source, ImageSet) else open_classes(source, "scratch")
        job = ClassifierTrainingJob(train, Path(folder) / "model", epochs=epochs, device=str(device))
        path = run_job(job, _note).result
        seconds = time.monotonic() - start
        assert path is not None
        evaluation = run_job(EvaluateJob(path, test_spec, str(device))).result
        assert evaluation is not None
        info = read_info(path)
        training = info.training
        seen = training["step"] * training["settings"]["batch_size"]
    size = info.config["size"]
    print(
        f"ours ({what}, scratch defaults: {size} px, epochs: {training['epoch']}): test accuracy "
        f"{100 * evaluation.accuracy:.2f}% after {seconds:.0f} s, {seen / seconds:.0f} training images/s"
    )
    full = ImageSet.fashion_mnist("train")  # the same pictures as the folder's, in the built-in label order
    same = ImageSet(full.images[: len(train)], None if full.labels is None else full.labels[: len(train)])
    accuracy, seen = train_mnist_net(same, ImageSet.fashion_mnist("test"), seconds, device)
    print(
        f"pytorch/examples MNIST Net, same {seconds:.0f} s on the same {len(train):,} images: test accuracy "
        f"{100 * accuracy:.2f}%, {seen / seconds:.0f} training images/s ({seen / len(train):.1f} epochs)"
    )


def _note(event: Event) -> None:
    if isinstance(event, Message):
        print(f"  {event.text}", flush=True)


def crops(picture: Image.Image, n: int, left: float, right: float, rng: random.Random) -> list[Image.Image]:
    """`n` square crops of 25-60% of the picture's shorter side, inside the band [left, right) of its width,
    at 224 px."""
    out = []
    for _ in range(n):
        side = int(min(picture.size) * rng.uniform(0.25, 0.6))
        side = min(side, int(picture.width * (right - left)))
        x = rng.randint(int(picture.width * left), int(picture.width * right) - side)
        y = rng.randint(0, picture.height - side)
        out.append(picture.resize((224, 224), Image.Resampling.LANCZOS, box=(x, y, x + side, y + side)))
    return out


def scene_pictures(folders: list[Path]) -> list[Path]:
    """The pictures (JPEG, PNG) directly in `folders`: one scene each."""
    return sorted(p for folder in folders for p in folder.iterdir() if p.suffix.lower() in SCENE_SUFFIXES)


def photo_sets(per_class: int, root: Path, pictures: list[Path]) -> tuple[Path, Path]:
    """A training folder of `per_class` crops per scene (one scene per picture) and a test folder of 50."""
    rng = random.Random(per_class)
    for path in pictures:
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
        for split, n, band in (("train", per_class, (0.0, 0.6)), ("test", 50, (0.6, 1.0))):
            folder = root / split / path.stem
            folder.mkdir(parents=True, exist_ok=True)
            for i, crop in enumerate(crops(picture, n, *band, rng)):
                crop.save(folder / f"{i}.png")
    return root / "train", root / "test"


def pretrained(sizes: list[int], pictures: list[Path], device: torch.device) -> None:
    for per_class in sizes:
        with tempfile.TemporaryDirectory() as folder:
            train, test = photo_sets(per_class, Path(folder), pictures)
            start = time.monotonic()
            job = ClassifierTrainingJob(
                open_classes(train, "pretrained"),
                Path(folder) / "model",
                route="pretrained",
                device=str(device),
            )
            path = run_job(job).result
            seconds = time.monotonic() - start
            assert path is not None
            evaluation = run_job(EvaluateJob(path, test, str(device))).result
            assert evaluation is not None
        print(
            f"pretrained EfficientNet-Lite0, {per_class} images per class x {len(pictures)} scenes: "
            f"test accuracy {100 * evaluation.accuracy:.1f}% on {evaluation.total} crops, "
            f"trained in {seconds:.0f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, help="from scratch: override the default (a quick check)")
    parser.add_argument(
        "--folder", type=int, nargs="+", metavar="N", help="from scratch: from folders of N PNG files instead"
    )
    parser.add_argument("--skip-scratch", action="store_true")
    parser.add_argument("--skip-pretrained", action="store_true")
    parser.add_argument("--per-class", default="20,100", help="pretrained: training images per class")
    parser.add_argument("--device", help="default: auto")
    parser.add_argument(
        "--pictures",
        type=Path,
        nargs="+",
        default=DEFAULT_PICTURES,
        metavar="FOLDER",
        help="pretrained: folders of pictures, one scene each (default: resources/images tests/data)",
    )
    args = parser.parse_args()
    missing = [str(folder) for folder in args.pictures if not folder.is_dir()]
    if missing:
        parser.error(f"--pictures: no such folder: {', '.join(missing)}")
    pictures = scene_pictures(args.pictures)
    if len(pictures) < 2:
        parser.error("--pictures: the folders hold fewer than two JPEG or PNG pictures")
    device = pick_device(args.device)
    print(f"device: {describe(device)}, torch {torch.__version__}")
    if not args.skip_scratch:
        for folder_size in args.folder or [None]:
            scratch(args.epochs, device, folder_size)
    if not args.skip_pretrained:
        pretrained([int(n) for n in args.per_class.split(",")], pictures, device)


if __name__ == "__main__":
    main()
