"""Classifier commands: train-classifier, classify, evaluate, export-classifier."""

import argparse
import json
from pathlib import Path
from typing import Any

from core.classifier.settings import ROUTES, SCRATCH
from core.cli.common import (
    CHECKPOINT_EVERY_HELP,
    DEVICE_HELP,
    INTERRUPTS,
    report_result,
    run_with_progress,
)
from core.export import OnnxExportJob


def _train_classifier(args: argparse.Namespace) -> int:
    from core.classifier.training import ClassifierTrainingJob, open_classes

    job = ClassifierTrainingJob(
        lambda ctx: open_classes(args.data, args.route, report=ctx.message, resume=args.resume),
        args.out,
        route=args.route,
        backbone=args.backbone,
        epochs=args.epochs,
        fine_tune_epochs=args.fine_tune,
        batch_size=args.batch_size,
        lr=args.lr,
        resume=args.resume,
        device=args.device,
        backbone_weights=args.backbone_weights,
        data_name=Path(str(args.data)).name,
        data_spec=str(Path(args.data).resolve()) if Path(args.data).is_dir() else str(args.data),
        checkpoint_every=args.checkpoint_every,
    )
    return report_result(run_with_progress(job, args.quiet), args.quiet)


def _classify(args: argparse.Namespace) -> int:
    from core.classifier.inference import classify, load_classifier

    classifier = load_classifier(args.checkpoint)
    for image in args.images:
        top, novelty = classify(classifier, image, args.top)
        if args.json:
            entries = [{"label": p.label, "probability": round(p.probability, 6)} for p in top]
            ood = None if novelty is None else novelty.to_json()
            print(json.dumps({"image": str(image), "top": entries, "novelty": ood}))
        else:
            warning = f"\t{novelty.describe()}" if novelty is not None and novelty.unlike else ""
            print(f"{image}\t" + "\t".join(f"{p.label} {p.probability:.3f}" for p in top) + warning)
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from core.classifier.jobs import EvaluateJob

    outcome = run_with_progress(EvaluateJob(args.checkpoint, args.data, args.device), args.quiet)
    if outcome.result is None:
        return INTERRUPTS.status
    print(outcome.result.table())
    return 0


def _export_classifier(args: argparse.Namespace) -> int:
    from core.classifier.inference import export_onnx

    return report_result(
        run_with_progress(OnnxExportJob(export_onnx, args.checkpoint, args.output), args.quiet), args.quiet
    )


def add_commands(commands: "argparse._SubParsersAction[Any]") -> None:
    train = commands.add_parser(
        "train-classifier", help="train an image classifier on a folder with one subfolder per class"
    )
    train.add_argument("data", help="a folder of class subfolders, fashion-mnist, or torchvision:NAME")
    train.add_argument("--route", choices=ROUTES, default=SCRATCH,
                       help="scratch: a compact CNN for small images; pretrained: an ImageNet backbone, "
                       "for photos")  # fmt: skip
    train.add_argument("--epochs", type=int, help="default: 12 or more from scratch, 30 for the head")
    train.add_argument("--fine-tune", type=int, default=0, metavar="EPOCHS",
                       help="pretrained: then fine-tune the whole network for this many epochs")  # fmt: skip
    train.add_argument("--backbone", default="efficientnet-lite0",
                       help="pretrained: efficientnet-lite0 (offline, the default), or resnet18, resnet50, "
                       "mobilenet_v3_large (downloaded once)")  # fmt: skip
    train.add_argument("--backbone-weights", type=Path, help="pretrained: a weights file to use")
    train.add_argument("--batch-size", type=int)
    train.add_argument(
        "--lr", type=float, help="peak learning rate (default 0.1 from scratch, 3e-3 for the head)"
    )
    train.add_argument("--out", type=Path, required=True, help="folder for classifier.safetensors")
    train.add_argument("--resume", type=Path, help="continue from this checkpoint")
    train.add_argument(
        "--checkpoint-every",
        type=int,
        help=CHECKPOINT_EVERY_HELP.format(unit="epochs") + " (default: at most a minute apart)",
    )
    train.add_argument("--device", help=DEVICE_HELP)
    train.set_defaults(handler=_train_classifier)

    classify = commands.add_parser(
        "classify",
        help="the most probable labels of pictures, and a warning for a picture unlike the training ones",
    )
    classify.add_argument("checkpoint", type=Path)
    classify.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    classify.add_argument("--top", type=int, default=3, help="how many labels per picture")
    classify.add_argument(
        "--json",
        action="store_true",
        help='one JSON object per line; "novelty": {"score", "threshold", "unlike"}, or null for a model '
        "trained before the check",
    )
    classify.set_defaults(handler=_classify)

    evaluate = commands.add_parser("evaluate", help="accuracy and confusion matrix on a labelled data set")
    evaluate.add_argument("checkpoint", type=Path)
    evaluate.add_argument("data", help="a folder of class subfolders, or fashion-mnist (its test split)")
    evaluate.add_argument("--device", help=DEVICE_HELP)
    evaluate.set_defaults(handler=_evaluate)

    export = commands.add_parser("export-classifier", help="write a trained classifier as ONNX")
    export.add_argument("checkpoint", type=Path)
    export.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file")
    export.set_defaults(handler=_export_classifier)
