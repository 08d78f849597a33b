"""`build_models`: float models → verified float32 rewrite → calibrated int8 models + manifest.

Nothing in `out_dir` is replaced until every model has been built, loaded back and verified: outputs go to
temporary files next to their destination and are renamed into place at the end (manifest last).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from edgepose import __version__
from edgepose.model_files import sha256_file
from edgepose.model_manifest import COMPILER_INPUT_SUFFIX, MANIFEST_NAME, Manifest, ModelEntry, load_manifest
from edgepose_dev.models_build import calibration as cal
from edgepose_dev.models_build.bias_correction import BiasCorrection
from edgepose_dev.models_build.edgetpu_check import (
    check_edgetpu_form,
    compiler_available,
    compiler_command,
    compiler_command_text,
)
from edgepose_dev.models_build.edgetpu_rewrite import depth_to_space_to_transpose_conv
from edgepose_dev.models_build.edgetpu_split import split_file_name, split_mixed, with_converter_op_versions
from edgepose_dev.models_build.errors import ModelBuildError
from edgepose_dev.models_build.float32 import rewrite_float32, verify_rewrite
from edgepose_dev.models_build.model_bytes import read_model_bytes
from edgepose_dev.models_build.quantize import (
    DEFAULT_CALIBRATION_SET,
    DETECTOR_BIAS_CORRECTION,
    MIXED_FLOAT,
    Recipe,
    calibration_set_for,
    detector_recipe,
    import_quantizer,
    io_types,
    mixed_recipe,
    op_counts,
    quantize_model,
)

DETECTOR = "pose_detection"
LANDMARKS = ("pose_landmark_lite", "pose_landmark_full", "pose_landmark_heavy")
# Landmark models that also get an int8_mixed variant (float stem and/or heads, CPU only; quantize.MIXED_FLOAT).
MIXED_MODELS = tuple(MIXED_FLOAT)
# The landmark model that makes the tracked ROIs of the calibration set (the default complexity).
ROI_LANDMARK = "pose_landmark_full"
REWRITE_CHECK_INPUTS = 3
# Compiler inputs that differ from the CPU files, under the same names, so that `edgetpu_compiler -o models`
# writes `<name>_edgetpu.tflite` where the Edge TPU backend looks for it.
EDGETPU_SRC_DIR = "edgetpu_src"
EDGETPU_DETECTOR_KEY = f"{DETECTOR}_edgetpu_src"
# The Edge TPU form of a landmark model (edgetpu_split): manifest keys of its parts. The body is the compiler's
# input (edgetpu_src/); stem and heads are runtime files next to the compiled body.
SPLIT_KEYS = {"stem": "{name}_edgetpu_stem", "body": "{name}_edgetpu_body" + COMPILER_INPUT_SUFFIX,
              "heads": "{name}_edgetpu_heads"}  # fmt: skip
Progress = Callable[[str], None]


def _source_info(filename: str, sha: str) -> dict[str, str]:
    info = {"file": f"float/{filename}", "sha256": sha}
    try:
        from edgepose.model_files import FLOAT_MODELS, NPM_PACKAGE, PYPI_PACKAGE

        m = FLOAT_MODELS.get(filename)
        if m is not None:
            info["package"] = PYPI_PACKAGE if m.registry == "pypi" else NPM_PACKAGE
            info["member"] = m.member
            info["pinned"] = "yes" if m.sha256 == sha else f"NO (pinned {m.sha256})"
    except ImportError:
        pass
    return info


def _shared_data() -> Path | None:
    env = os.environ.get("EDGEPOSE_TEST_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[3].parent / "shared" / "data")
    return next((c for c in candidates if c.is_dir()), None)


def build_models(
    float_dir: Path,
    out_dir: Path,
    calibration_dir: Path | None = None,
    edgetpu: bool = False,
    progress: Progress | None = None,
    models: tuple[str, ...] = (DETECTOR, *LANDMARKS),
    shared_data: Path | None = None,
    mixed: tuple[str, ...] = MIXED_MODELS,
    detector_bias_correction: BiasCorrection | None = DETECTOR_BIAS_CORRECTION,
    landmark_bias_correction: bool = True,
    augment: tuple[str, ...] = (),
) -> Manifest:
    """Build `<out_dir>/<name>_int8.tflite` for each of `models` (and `<name>_int8_mixed.tflite` for the landmark
    models in `mixed`: float stem/heads, CPU only) and `<out_dir>/manifest.json`. `detector_bias_correction`:
    the detector recipe's bias-correction step (the shipped detector's, `quantize.DETECTOR_BIAS_CORRECTION`;
    None: off). `landmark_bias_correction`: the int8_mixed files' (`quantize.MIXED_BIAS_CORRECTION`) or none.
    `augment`: augmented copies of each landmark crop (`calibration.augment_crops`; variant builds only)."""
    say = progress or (lambda _msg: None)
    float_dir, out_dir = Path(float_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shared = shared_data or _shared_data()
    names = tuple(models)
    if ROI_LANDMARK not in names:  # its tracked ROIs are part of the calibration set
        names = (*names, ROI_LANDMARK)
    # Each model calibrates on its recipe's set (quantize.CALIBRATION_SETS); a user's folder replaces them all.
    if calibration_dir is not None:
        user = cal.user_source(Path(calibration_dir))
        sources = {n: user for n in (DETECTOR, *names)}
    elif shared is not None:
        sources = {n: cal.default_source(shared, subset=calibration_set_for(n)) for n in (DETECTOR, *names)}
    else:
        raise ModelBuildError(
            "no calibration data: ../shared/data is absent; pass --calibration DIR with frames of your camera"
        )
    needed = {sources[n].name: sources[n] for n in models}  # the sets this build calibrates on
    cal.check_augmentations(augment)  # before any long work
    originals: dict[str, bytes] = {}
    for name in dict.fromkeys((DETECTOR, *names)):
        originals[name] = read_model_bytes(float_dir / f"{name}.tflite")
        _check_kind(name, originals[name], float_dir / f"{name}.tflite")
    import_quantizer()  # a missing extra fails here, after the quick input checks and before any long work

    with tempfile.TemporaryDirectory(prefix="edgepose-build-") as tmp_s:
        tmp = Path(tmp_s)
        # 1. float32 rewrite, checked against the original.
        rewritten: dict[str, Path] = {}
        rewrite_info: dict[str, dict] = {}
        for name, src in originals.items():
            say(f"[1/4] float32 rewrite {name}")
            out, rep = rewrite_float32(src)
            path = tmp / f"{name}_float32.tflite"
            path.write_bytes(out)
            rewritten[name] = path
            rewrite_info[name] = {"folded_ops": rep.folded_ops, "size": rep.size_out}
        # 2. calibration sets from the float pipeline.
        csets: dict[str, cal.CalibrationSet] = {}
        for set_name, source in needed.items():
            say(f"[2/4] calibration ({set_name}): {len(source.files)} files under {source.root}")
            csets[set_name] = cset = cal.build_calibration_set(source, rewritten[DETECTOR], rewritten[ROI_LANDMARK],
                                                               say)  # fmt: skip
            say(
                f"      {cset.frames} frames, {cset.frames_with_person} with a person, "
                f"{len(cset.landmark)} landmark crops"
            )
            if augment:
                cset.landmark = cal.augment_crops(cset.landmark, augment)
                say(f"      augmented ({', '.join(augment)}): {len(cset.landmark)} landmark crops")
        any_set = next(iter(csets.values()))  # the rewrite check of the models only used for the calibration
        for name, src in originals.items():
            cset = csets.get(sources[name].name, any_set)
            samples = cset.detector if name == DETECTOR else cset.landmark
            step = max(1, len(samples) // REWRITE_CHECK_INPUTS)
            check = verify_rewrite(src, rewritten[name].read_bytes(), samples[::step][:REWRITE_CHECK_INPUTS])
            rewrite_info[name].update(max_abs_diff=check.max_abs_diff, bit_exact=check.bit_exact, inputs=check.n_inputs)
            say(f"      {name}: rewrite {'bit-exact' if check.bit_exact else f'max diff {check.max_abs_diff:.2g}'}")
        # 3. quantize, load back, verify.
        staged: dict[str, Path] = {}
        entries: dict[str, ModelEntry] = {}
        held_out = _held_out(shared)
        det_recipe = detector_recipe(detector_bias_correction)
        jobs = [(name, name, det_recipe if name == DETECTOR else Recipe("int8")) for name in models]
        for name in models:
            if name in mixed:
                jobs.append((f"{name}_mixed", name, mixed_recipe(name, rewritten[name].read_bytes(),
                                                                        landmark_bias_correction)))
        for key, name, recipe in jobs:
            say(f"[3/4] quantize {name} ({recipe.name}, calibration set {sources[name].name})")
            cset = csets[sources[name].name]
            samples = cset.detector if name == DETECTOR else cset.landmark
            if recipe.bias_correction is not None:
                recipe.bias_correction.inputs(samples)  # no calibration frames: fails before quantizing
            q = quantize_model(rewritten[name].read_bytes(), cal.as_signature_data(samples), recipe)
            described = recipe.describe()
            if recipe.bias_correction is not None:
                say(f"      bias correction ({recipe.bias_correction.describe()})")
                q, described["bias_correction"] = recipe.bias_correction.apply(
                    rewritten[name].read_bytes(), q, samples, say)
            final = out_dir / (f"{name}_int8.tflite" if recipe.name == "int8" else f"{name}_int8_mixed.tflite")
            part = tmp / final.name  # staged outside models/ until everything is verified
            part.write_bytes(q)
            staged[key] = part
            say(f"[4/4] verify {final.name}")
            verification = _verify(name, rewritten, part, held_out, samples)
            ins, outs = io_types(q)
            et = check_edgetpu_form(part)
            entries[key] = ModelEntry(
                file=final.name,
                sha256=sha256_file(part),
                size=part.stat().st_size,
                source=_source_info(f"{name}.tflite", sha256_file(float_dir / f"{name}.tflite")),
                recipe=described,
                float32_rewrite=rewrite_info[name],
                verification={**verification, "io_types": {"inputs": ins, "outputs": outs}, "ops": op_counts(q)},
                edgetpu=_edgetpu_info(et),
            )
            say(f"      {et.summary().replace(str(part), final.name)}")
            if key == DETECTOR:
                entries[EDGETPU_DETECTOR_KEY], staged[EDGETPU_DETECTOR_KEY] = _edgetpu_detector(
                    part, entries[key], tmp, samples
                )
                say(f"      Edge TPU compiler input {entries[EDGETPU_DETECTOR_KEY].file}: "
                    f"{entries[EDGETPU_DETECTOR_KEY].recipe['edgetpu_rewrite']}")  # fmt: skip
            elif key == f"{name}_mixed":
                for k, (entry, path) in edgetpu_split(name, part, entries[key], tmp, samples).items():
                    entries[k], staged[k] = entry, path
                    say(f"      Edge TPU form: {entry.file} ({entry.edgetpu['ops_total']} ops)")
        calibrations = {
            set_name: {
                "set": set_name,
                "sha256": cset.source_sha256,
                "root": "../shared/data" if calibration_dir is None else str(calibration_dir),
                "files": len(needed[set_name].files),
                "video_stride": needed[set_name].video_stride,
                "frames": cset.frames,
                "frames_with_person": cset.frames_with_person,
                "detector_samples": len(cset.detector),
                "landmark_crops": len(cset.landmark),
                "held_out": "images/annotated (accuracy test set)" if calibration_dir is None else "",
                **({"augment": list(augment)} if augment else {}),
            }
            for set_name, cset in csets.items()
        }
        for key, entry in entries.items():  # the Edge TPU inputs derived from a model's file: that model's set
            entry.recipe["calibration"] = calibrations[sources[_base_model(key)].name]
        old = load_manifest(out_dir) if (out_dir / MANIFEST_NAME).is_file() else None
        # The manifest's own `calibration`: the default set's (or the user's) when this build made it, else the old one.
        top = (calibrations.get(DEFAULT_CALIBRATION_SET) or calibrations.get(cal.USER_SET)
               or (old.calibration if old and old.calibration else None))  # fmt: skip
        manifest = Manifest(edgepose_version=__version__, calibration=top or next(iter(calibrations.values())),
                            models={**_kept_entries(out_dir, models, mixed), **entries})  # fmt: skip
        det, lms = compiler_inputs(out_dir, manifest)
        rel = Path(out_dir.name)  # run from the models directory's parent, as the README says
        rel_paths = [rel / p.relative_to(out_dir) for p in [det, *lms]]
        manifest.edgetpu_compiler_command = compiler_command_text(rel_paths, rel)
        # Everything verified: move into place, manifest last.
        _install({out_dir / entries[k].file: p for k, p in staged.items()}, out_dir, manifest.to_json())
    if edgetpu:
        run_edgetpu_compiler([det, *lms], out_dir, say)
    return manifest


# Input (H, W, C) of each kind of float model (spec §1.1): a file under the wrong name fails before any work.
_INPUT_SHAPES = {DETECTOR: (224, 224, 3), **{n: (256, 256, 3) for n in LANDMARKS}}


def _check_kind(name: str, data: bytes, path: Path) -> None:
    from edgepose.inference.tflite_schema import load_model_t

    g = load_model_t(data).subgraphs[0]
    shape = tuple(int(v) for v in g.tensors[int(g.inputs[0])].shape[1:])
    outputs = len(g.outputs)
    want = _INPUT_SHAPES[name]
    if shape != want or (name == DETECTOR) != (outputs == 2):
        raise ModelBuildError(
            f"{path} is not a {name} model: input {shape} with {outputs} outputs, expected input {want}"
            f"{' and 2 outputs' if name == DETECTOR else ' and 5 outputs'}"
        )


def _base_model(key: str) -> str:
    """The model whose build made manifest entry `key` (`pose_landmark_lite_edgetpu_stem` → `pose_landmark_lite`)."""
    return next(m for m in (DETECTOR, *LANDMARKS) if key == m or key.startswith(f"{m}_"))


def _kept_entries(out_dir: Path, models: tuple[str, ...], mixed: tuple[str, ...]) -> dict[str, ModelEntry]:
    """Entries of an existing manifest for the models this build does not make (a partial rebuild, e.g. only the
    detector); each keeps its own `recipe.calibration`."""
    if not (out_dir / MANIFEST_NAME).is_file():
        return {}
    built = {*models, *(f"{m}_mixed" for m in models if m in mixed)}
    built |= {k.format(name=m) for m in models if m in mixed for k in SPLIT_KEYS.values()}
    if DETECTOR in models:
        built.add(EDGETPU_DETECTOR_KEY)
    old = load_manifest(out_dir)
    kept = {k: e for k, e in old.models.items() if k not in built}
    for e in kept.values():
        e.recipe.setdefault("calibration", old.calibration)  # the set it was built on, not this build's
    return kept


def _install(files: dict[Path, Path], out_dir: Path, manifest_json: str) -> None:
    """Copy every staged file next to its destination as .part, then rename all into place, manifest last."""
    parts: list[tuple[Path, Path]] = []
    try:
        for final, staged in files.items():
            final.parent.mkdir(parents=True, exist_ok=True)
            part = final.with_name(final.name + ".part")
            shutil.copyfile(staged, part)
            parts.append((part, final))
        mpart = out_dir / (MANIFEST_NAME + ".part")
        mpart.write_text(manifest_json)
        parts.append((mpart, out_dir / MANIFEST_NAME))
    except OSError as e:
        for part, _ in parts:
            part.unlink(missing_ok=True)
        raise ModelBuildError(f"cannot write into {out_dir}: {e}; nothing was replaced") from None
    for part, final in parts:
        os.replace(part, final)


def _compiler_input_entry(base: ModelEntry, path: Path, file: str, recipe: dict, verification: dict) -> ModelEntry:
    """The manifest entry of a file made from `base` without quantizing again (the detector's Edge TPU rewrite, a
    part of the split landmark model): `base`'s source and float rewrite, its recipe plus `recipe`, and the op
    versions the TF converter sets (edgetpu_split.with_converter_op_versions)."""
    return ModelEntry(
        file=file,
        sha256=sha256_file(path),
        size=path.stat().st_size,
        source=base.source,
        recipe={**base.recipe, **recipe, "op_versions": "as the TF converter sets them"},
        float32_rewrite=base.float32_rewrite,
        verification=verification,
        edgetpu=_edgetpu_info(check_edgetpu_form(path)),
    )


def _edgetpu_info(et) -> dict:
    return {
        "compilable": et.compilable,
        "fully_mapped": et.fully_mapped,
        "unsupported_ops": et.unsupported_ops,
        "cpu_ops": len(et.cpu_ops),
        "ops_total": et.ops_total,
    }


def _edgetpu_detector(cpu_part: Path, cpu: ModelEntry, tmp: Path, samples) -> tuple[ModelEntry, Path]:
    """The detector as the Edge TPU compiler gets it: DEPTH_TO_SPACE as an exact TRANSPOSE_CONV (edgetpu_rewrite)
    and the op versions the TF converter sets, checked bit-identical to the CPU file on calibration inputs. The
    CPU keeps the original (16 % faster there)."""
    from edgepose_dev.models_build import verify

    data, replaced = depth_to_space_to_transpose_conv(cpu_part.read_bytes())
    data = with_converter_op_versions(data)
    part = tmp / f"edgetpu_{cpu.file}"
    part.write_bytes(data)
    inputs = samples[:: max(1, len(samples) // REWRITE_CHECK_INPUTS)][:REWRITE_CHECK_INPUTS]
    a, b = verify.QuantModel(cpu_part), verify.QuantModel(part)
    for x in inputs:
        ya, yb = a(x), b(x)
        if any(not np.array_equal(ya[k], yb[k]) for k in ya):
            raise ModelBuildError(f"the Edge TPU rewrite of {cpu.file} changes its outputs; nothing was replaced")
    return _compiler_input_entry(cpu, part, f"{EDGETPU_SRC_DIR}/{cpu.file}",
                                 {"edgetpu_rewrite": f"{replaced} DEPTH_TO_SPACE as TRANSPOSE_CONV"},
                                 {"bit_identical_to": cpu.file, "inputs": len(inputs)}), part


def compiler_inputs(out_dir: Path, manifest: Manifest) -> tuple[Path, list[Path]]:
    """The Edge TPU compiler's inputs: the rewritten detector and, per landmark model, the body of its split
    form (the full-int8 file for a model built without one)."""
    det = out_dir / EDGETPU_SRC_DIR / f"{DETECTOR}_int8.tflite"
    lms = []
    for n in LANDMARKS:
        body = manifest.models.get(SPLIT_KEYS["body"].format(name=n))
        if body is not None:
            lms.append(out_dir / body.file)
        elif n in manifest.models:
            lms.append(out_dir / f"{n}_int8.tflite")
    return det, lms


def edgetpu_split(name: str, mixed_part: Path, mixed: ModelEntry, tmp: Path,
                  samples: list[np.ndarray]) -> dict[str, tuple[ModelEntry, Path]]:  # fmt: skip
    """The Edge TPU form of a landmark model: its int8_mixed graph cut into stem → body → heads (edgetpu_split).
    The chain must give the mixed file's outputs bit for bit on `samples` (a few), and the body must be fully
    mappable by the form check; otherwise nothing is replaced. {manifest key: (entry, staged file)}."""
    from edgepose.inference.chain import ChainBackend, SplitFiles
    from edgepose_dev.models_build import verify

    split = split_mixed(mixed_part.read_bytes())
    model_file = f"{name}_int8.tflite"
    paths: dict[str, Path] = {}
    for part, data in split.parts().items():
        rel = (f"{EDGETPU_SRC_DIR}/" if part == "body" else "") + split_file_name(model_file, part)
        paths[part] = tmp / "split" / rel
        paths[part].parent.mkdir(parents=True, exist_ok=True)
        paths[part].write_bytes(data)
    chain = ChainBackend(SplitFiles(paths.get("stem"), paths["body"], paths.get("heads")), threads=1)
    ref = verify.QuantModel(mixed_part)
    inputs = samples[:: max(1, len(samples) // REWRITE_CHECK_INPUTS)][:REWRITE_CHECK_INPUTS]
    for x in inputs:
        got = {o.shape: v for o, v in zip(chain.outputs, chain.run(x), strict=True)}
        want = ref(x)
        if any(not np.array_equal(v, want[k]) for k, v in got.items()):
            raise ModelBuildError(f"the Edge TPU split of {mixed.file} changes its outputs; nothing was replaced")
    body_check = check_edgetpu_form(paths["body"])
    if not body_check.fully_mapped:
        raise ModelBuildError(f"the Edge TPU body of {mixed.file} is not fully mappable: {body_check.summary()}")
    out = {}
    for part, path in paths.items():
        rel = str(path.relative_to(tmp / "split"))
        out[SPLIT_KEYS[part].format(name=name)] = (_compiler_input_entry(
            mixed, path, rel, {"edgetpu_split": f"{part} of {mixed.file} (segmentation output pruned)"},
            {"chain_bit_identical_to": mixed.file, "inputs": len(inputs), "body_inputs": list(split.body_inputs),
             "body_outputs": list(split.body_outputs)}), path)  # fmt: skip
    return out


def write_edgetpu_inputs(models_dir: Path, progress: Progress | None = None) -> Manifest:
    """Make the Edge TPU compiler's inputs again from the built CPU files in `models_dir` (seconds, no
    quantization): the rewritten detector and the split form of every int8_mixed file; update the manifest and
    its compiler command. The bit-identity checks run on 3 fixed random inputs."""
    say = progress or (lambda _msg: None)
    models_dir = Path(models_dir)
    manifest = load_manifest(models_dir)
    rng = np.random.default_rng(0)
    samples = [rng.uniform(0.0, 1.0, (1, 256, 256, 3)).astype(np.float32) for _ in range(REWRITE_CHECK_INPUTS)]
    staged: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix="edgepose-split-") as tmp_s:
        det = manifest.models.get(DETECTOR)
        if det is not None:
            det_samples = [rng.uniform(-1.0, 1.0, (1, 224, 224, 3)).astype(np.float32) for _ in range(3)]
            entry, path = _edgetpu_detector(models_dir / det.file, det, Path(tmp_s), det_samples)
            entry.recipe["calibration"] = manifest.models.get(EDGETPU_DETECTOR_KEY, det).recipe.get(
                "calibration", det.recipe.get("calibration"))  # fmt: skip
            manifest.models[EDGETPU_DETECTOR_KEY], staged[EDGETPU_DETECTOR_KEY] = entry, path
            say(f"{entry.file}: {entry.size} bytes, {entry.edgetpu['ops_total']} ops")
        for name in LANDMARKS:
            mixed = manifest.models.get(f"{name}_mixed")
            if mixed is None:
                continue
            for k, (entry, path) in edgetpu_split(name, models_dir / mixed.file, mixed, Path(tmp_s), samples).items():
                manifest.models[k], staged[k] = entry, path
                say(f"{entry.file}: {entry.size} bytes, {entry.edgetpu['ops_total']} ops")
        det, lms = compiler_inputs(models_dir, manifest)
        rel = Path(models_dir.name)
        manifest.edgetpu_compiler_command = compiler_command_text(
            [rel / p.relative_to(models_dir) for p in [det, *lms]], rel
        )
        _install({models_dir / manifest.models[k].file: p for k, p in staged.items()}, models_dir, manifest.to_json())
    return manifest


def _held_out(shared: Path | None) -> Path | None:
    if shared is None:
        return None
    ann = shared / "images" / "annotated" / "person_keypoints.json"
    return ann if ann.is_file() else None


def _verify(name: str, rewritten: dict[str, Path], int8_path: Path, held_out: Path | None, samples) -> dict:
    """Load the int8 model on LiteRT and compare it with the float32 model on held-out photos."""
    from edgepose_dev.models_build import verify

    try:
        q = verify.QuantModel(int8_path)
        q(np.zeros_like(samples[0]))
    except (ValueError, RuntimeError) as e:
        raise ModelBuildError(f"built model {int8_path.name} does not load or run on LiteRT: {e}") from None
    if name == DETECTOR:
        frames = []
        if held_out is not None:
            import cv2

            for path, _ in verify.annotated_people(held_out):
                bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                if bgr is not None:
                    frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        if not frames:
            return {"note": "no held-out photos; detector agreement not measured"}
        agree = verify.detector_agreement(rewritten[DETECTOR], int8_path, frames)
        return {"set": "annotated photos", "detector_agreement": verify.as_dict(agree)}
    if held_out is None:
        return {"note": "no held-out photos; landmark deviation not measured"}
    dev = verify.compare_landmarks_on_photos(rewritten[DETECTOR], rewritten[name], int8_path, held_out)
    return {"set": "annotated photos (float detector crops)", "landmarks": verify.as_dict(dev)}


def run_edgetpu_compiler(models: list[Path], out_dir: Path, say: Progress) -> None:
    """Form-check the models, then compile them together, or print the command to run elsewhere."""
    reports = [check_edgetpu_form(m) for m in models]
    for r in reports:
        say(r.summary())
    bad = [r for r in reports if not r.compilable]
    if bad:
        raise ModelBuildError("not Edge-TPU-compilable: " + "; ".join(r.summary() for r in bad))
    cmd = compiler_command(models, out_dir)
    if not compiler_available():
        say(
            "edgetpu_compiler is not on PATH (it runs on x86-64 Debian/Ubuntu only); run there:\n  "
            + compiler_command_text(models, out_dir)
        )
        return
    say("running " + compiler_command_text(models, out_dir))
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    say(done.stdout)
    if done.returncode != 0:
        raise ModelBuildError(f"edgetpu_compiler failed ({done.returncode}): {done.stderr.strip()}")
