"""The Job templates under k8s/ with an overlay's patches applied, as `kubectl kustomize` applies them.

The runner renders each run's Jobs from these same files, so what `kubectl apply -k k8s/overlays/<overlay>`
installs and what a run submits cannot drift apart (a test compares the two).
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import yaml

ROOT = Path(__file__).resolve().parents[3]
K8S_DIR = ROOT / "k8s"


def strategic_merge(base, patch):
    """kustomize's strategic merge for what our patches use: maps merge (a null deletes the key), lists of
    named items merge by name (containers, env, volumes), any other list replaces."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(patch, list) and all(
            isinstance(item, dict) and "name" in item for item in base + patch):
        merged = [copy.deepcopy(item) for item in base]
        for item in patch:
            names = [m["name"] for m in merged]
            if item["name"] in names:
                merged[names.index(item["name"])] = strategic_merge(merged[names.index(item["name"])], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def kustomization(overlay: str, k8s_dir: Path = K8S_DIR) -> dict:
    return yaml.safe_load((k8s_dir / "overlays" / overlay / "kustomization.yaml").read_text())


def overlay_namespace(overlay: str, k8s_dir: Path = K8S_DIR) -> str:
    """The namespace `kubectl apply -k k8s/overlays/<overlay>` installs into (the base's when it sets none)."""
    return kustomization(overlay, k8s_dir).get("namespace") or yaml.safe_load(
        (k8s_dir / "base" / "namespace.yaml").read_text())["metadata"]["name"]


def load_template(step: str, overlays: Sequence[str], k8s_dir: Path = K8S_DIR) -> dict:
    """The step's Job template with each overlay's Job patches applied in turn: those whose target names
    this Job, and those that name none (they apply to every Job, as in kustomize)."""
    template = yaml.safe_load((k8s_dir / "base" / "jobs" / f"{step}.yaml").read_text())
    name = template["metadata"]["name"]
    for overlay in overlays:
        for patch in kustomization(overlay, k8s_dir).get("patches", []):
            target = patch.get("target", {})
            if target.get("kind") == "Job" and target.get("name", name) == name and "path" in patch:
                body = yaml.safe_load((k8s_dir / "overlays" / overlay / patch["path"]).read_text())
                body.pop("metadata", None)  # a patch's own name is a placeholder where its target names none
                template = strategic_merge(template, body)
    return template
