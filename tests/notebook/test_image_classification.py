"""notebook/image_classification.ipynb: its sections, that it calls ml_core rather
than copying it, and a run end to end on the mini archive in a real Jupyter kernel.

nbclient (the Jupyter project's execution library, which nbconvert and papermill
themselves run on) executes it; the notebook takes its settings from environment
variables, so papermill's parameter cells would add nothing.
"""

import ast
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebook" / "image_classification.ipynb"
# The executed copy, with its outputs, for whoever wants to read it (git-ignored).
EXECUTED = ROOT / "test-artifacts" / "notebook" / "image_classification.ipynb"
CI_EPOCHS = "2"
CELL_TIMEOUT_SECONDS = 600
SECTIONS = [
    "Imports",
    "Data acquisition",
    "Exploratory analysis",
    "Preprocessing",
    "Model architecture",
    "Training",
    "Evaluation",
    "Visualization and interpretation",
    "Prediction",
    "Summary",
]


def read_notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def code_of(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")


def test_the_sections_come_in_order():
    headings = [
        line.removeprefix("## ").split(". ", 1)[1]
        for cell in read_notebook().cells
        if cell.cell_type == "markdown"
        for line in cell.source.splitlines()
        if line.startswith("## ")
    ]
    assert headings == SECTIONS


def defined_names(source: str) -> set[str]:
    """Functions and classes defined at the top level (methods may override)."""
    return {
        node.name
        for node in ast.parse(source).body
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_")
    }


def test_it_calls_ml_core_and_redefines_none_of_it():
    code = code_of(read_notebook())
    ml_core_names = set().union(
        *(defined_names(path.read_text()) for path in (ROOT / "ml_core").glob("*.py"))
    )
    assert not defined_names(code) & ml_core_names
    used = {"load_cifar", "preprocess_images", "build_model", "train_model", "evaluate"}
    used |= {"evaluation_plots", "dataset_plots", "Predictor"}
    assert all(f"{name}(" in code for name in used)
    assert "../shared" not in code and "CIFAR_ARCHIVE" in code


def outputs_of(notebook: nbformat.NotebookNode) -> tuple[str, list[dict]]:
    """All text the cells printed or displayed, and every output."""
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    texts = []
    for output in outputs:
        if output.output_type == "stream":
            texts.append(output.text)
        elif "data" in output:
            texts.append(output.data.get("text/markdown", output.data.get("text/plain", "")))
    return "\n".join(texts), outputs


@pytest.mark.notebook
def test_it_runs_end_to_end_on_the_mini_archive(mini_archive, monkeypatch):
    monkeypatch.setenv("CIFAR_ARCHIVE", str(mini_archive))
    monkeypatch.setenv("NOTEBOOK_EPOCHS", os.environ.get("NOTEBOOK_EPOCHS", CI_EPOCHS))
    monkeypatch.delenv("NOTEBOOK_MAX_TRAIN_IMAGES", raising=False)
    monkeypatch.setenv("NOTEBOOK_DOWNLOAD", "0")
    notebook = read_notebook()
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_SECONDS,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},  # Jupyter's working dir
    )
    try:
        client.execute()
    finally:
        EXECUTED.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, EXECUTED)
    text, outputs = outputs_of(notebook)
    epochs = int(os.environ["NOTEBOOK_EPOCHS"])
    assert "4068 training and 1017 test images, 10 classes" in text
    assert "PNG round trip identical: True" in text
    assert f"epoch {epochs}/{epochs}: loss" in text
    assert "ROC-AUC (OvR macro)" in text and "confusion matrix" in text
    plots = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(plots) == 7, "3 dataset plots, training curves and 3 evaluation plots"
    assert "The most frequent confusion is" in text
    assert "saved and served model agree on the test split to within" in text
    assert f"network for {epochs} epochs" in text and "On 1017 test images" in text
