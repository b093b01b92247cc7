"""Jobs that use a trained classifier: classify a picture (with whether it looks like the training
pictures, and its Grad-CAM overlay), evaluate on a data set, show the validation mistakes of one
confusion-matrix cell, export to ONNX."""

import math
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from core.checkpoints import model_name
from core.classifier.evaluation import Evaluation, evaluation_of, logits_of
from core.classifier.gradcam import grad_cam, overlay
from core.classifier.inference import Classification, classify, load_classifier
from core.data import ImageSet, open_data_set
from core.errors import UserError
from core.images import grid
from core.jobs import ImageResult, JobContext

THUMBNAIL = 96  # px: mistakes are shown at least this large, whatever size the model takes


class ClassifyJob:
    """The top-k labels of a picture, whether it looks unlike the training pictures and, with `grad_cam`,
    its Grad-CAM overlay for the most probable label. With the overlay: an ImageResult whose settings carry
    "top": [[label, probability], ...] and "novelty": {"score", "threshold", "unlike"} (None for a
    checkpoint trained before the check); without: the `Classification` itself (the canvas is untouched)."""

    title = "Classify"

    def __init__(self, model: Path, image: Image.Image, top: int = 3, grad_cam: bool = True) -> None:
        self.model, self.image, self.top, self.grad_cam = Path(model), image, top, grad_cam

    def run(self, ctx: JobContext) -> ImageResult | Classification:
        ctx.progress(0, 1, stage="Classifying")
        classifier = load_classifier(self.model)
        classification = classify(classifier, self.image, self.top)
        if not self.grad_cam:
            ctx.progress(1, 1, stage="Classified")
            return classification
        cam, index = grad_cam(classifier, self.image)
        ctx.progress(1, 1, stage="Classified")
        label = classifier.config.class_names[index]
        novelty = classification.novelty
        settings = {
            "operation": "classifier-grad-cam",
            "model": model_name(self.model),
            "class": label,
            "top": [[p.label, p.probability] for p in classification.top],
            "novelty": None if novelty is None else novelty.to_json(),
        }
        return ImageResult(overlay(self.image, cam), settings)


def _evaluation_data(spec: str | Path, model_classes: tuple[str, ...], size: int, channels: int) -> ImageSet:
    """The data set `spec` at the model's size, its labels renumbered to the model's classes."""
    data = open_data_set(spec, size, grey=channels == 1, split="test")
    if data.labels is None:
        raise UserError(
            f"{Path(str(spec)).name} has no classes: evaluate on a folder with one subfolder per class."
        )
    unknown = [n for n in data.class_names if n not in model_classes]
    if unknown:
        raise UserError(
            f"The classifier does not know the class(es) {', '.join(unknown)}; it knows "
            f"{', '.join(model_classes)}."
        )
    if data.channels != channels:  # a grey built-in set for a colour model, or the other way round
        pixels = data.images.float()
        pixels = pixels.mean(dim=1, keepdim=True) if channels == 1 else pixels.expand(-1, 3, -1, -1)
        data = ImageSet(pixels.round().byte().contiguous(), data.labels, data.class_names, data.name)
    mapping = torch.tensor([model_classes.index(n) for n in data.class_names])
    return ImageSet(data.images, mapping[data.labels], model_classes, data.name)


class EvaluateJob:
    """Accuracy, per-class precision and recall and the confusion matrix on a labelled data set (a
    folder with one subfolder per class, or a built-in set's test split)."""

    title = "Evaluate a classifier"

    def __init__(self, model: Path, data: str | Path, device: str | None = None) -> None:
        self.model, self.data, self.device = Path(model), data, device

    def run(self, ctx: JobContext) -> Evaluation:
        from core.devices import pick_device

        device = pick_device(self.device)
        classifier = load_classifier(self.model)
        config = classifier.config
        ctx.progress(0, 1, stage="Reading the data set")
        data = _evaluation_data(self.data, config.class_names, config.size, config.channels)
        assert data.labels is not None
        indices = torch.arange(len(data))
        chunks = torch.split(indices, 512)
        logits = []
        net = classifier.net.to(device)
        for done, chunk in enumerate(chunks, start=1):
            ctx.check()
            logits.append(logits_of(net, data, chunk, device))
            ctx.progress(done, len(chunks), stage=f"Evaluating on {len(data)} images")
        return evaluation_of(torch.cat(logits), data.labels, indices, config.class_names)


class MistakesJob:
    """A grid of the validation images of class `true` that the model took for `predicted` (the indices
    its training kept for that confusion-matrix cell), read again from the training data."""

    title = "Show mistakes"

    def __init__(self, model: Path, true: int, predicted: int) -> None:
        self.model, self.true, self.predicted = Path(model), true, predicted

    def run(self, ctx: JobContext) -> ImageResult:
        ctx.progress(0, 1, stage="Reading the validation images")
        classifier = load_classifier(self.model)
        config, training = classifier.config, classifier.info.training
        evaluation = Evaluation.from_json(training["evaluation"])
        indices = evaluation.mistakes_of(self.true, self.predicted)
        names = config.class_names
        if not indices:
            raise UserError(f"No {names[self.true]} image was taken for {names[self.predicted]}.")
        spec = training.get("data_spec")
        if not spec:
            raise UserError(
                "This classifier does not say where its training data is: evaluate it on a folder."
            )
        data = open_data_set(spec, config.size, grey=config.channels == 1)
        if len(data) != training.get("image_count"):
            raise UserError(
                f"{Path(spec).name} has changed since the training ({len(data)} images, then "
                f"{training.get('image_count')}): its mistakes cannot be matched to images."
            )
        true, predicted = names[self.true], names[self.predicted]
        side = max(THUMBNAIL, config.size)
        pictures = [_picture(data.images[i]).resize((side, side), Image.Resampling.NEAREST) for i in indices]
        ctx.progress(1, 1, stage="Done")
        settings: dict[str, Any] = {
            "operation": "classifier-mistakes",
            "model": model_name(self.model),
            "true": true,
            "predicted": predicted,
            "caption": f"{len(pictures)} {true} validation images taken for {predicted}",
        }
        return ImageResult(grid(pictures, math.ceil(math.sqrt(len(pictures)))), settings)


def _picture(pixels: torch.Tensor) -> Image.Image:
    """uint8 (C, S, S) -> an RGB picture."""
    return Image.fromarray(pixels.expand(3, -1, -1).permute(1, 2, 0).numpy(), "RGB")
