"""The server's own copies of the versions it serves, so that a rollback needs nothing from the operator.

Every version is copied here before it loads, and loaded from the copy: the artifacts folder may be
replaced at any moment (a retrain writes over it, and write_artifact deletes the version it replaces),
and it is mounted read-only in compose and Kubernetes, so the server cannot keep history there. The
copies of the serving version and the `KEEP` versions before it stay; others are deleted.

<keep_dir>/<model>/v-<hash of the version>/   card.json, weights.safetensors, tokenizer.json, golden.json
"""

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path

from models.artifact import ArtifactError, card_version

logger = logging.getLogger("rnnserve.keep")

KEEP = 3  # the serving version and the two before it
SKIPPED_SUFFIXES = (".png",)  # pictures are for people: not copied


def folder_name(version: str) -> str:
    """A version string may hold any character: its copy's folder is named by its hash."""
    return f"v-{hashlib.sha256(version.encode()).hexdigest()[:16]}"


class VersionKeeper:
    """Where no folder can be written (a read-only root file system with no volume for it, as in KServe's
    runtime), versions load straight from the artifacts folder and none is kept: rollback by version is
    then unavailable, the rest works as before."""

    def __init__(self, root: Path | None) -> None:
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self.root: Path | None = None
        try:
            if root is None:  # a private folder that lives as long as the process
                self._temporary = tempfile.TemporaryDirectory(prefix="rnnserve-versions-")
                self.root = Path(self._temporary.name)
            else:
                root.mkdir(parents=True, exist_ok=True)
                self.root = root
        except OSError as error:
            logger.warning(
                "no folder for version copies: versions load from the artifacts folder, and a load call "
                "cannot name a previous version",
                extra={"fields": {"keep_dir": str(root), "reason": str(error)}},
            )
        self.served: dict[str, list[str]] = {}  # model -> versions that served, oldest first

    def folder(self, name: str, version: str) -> Path | None:
        return None if self.root is None else self.root / name / folder_name(version)

    def stage(self, name: str, source: Path) -> Path:
        """Copy `source` (a model folder) in and return the copy. A version already kept is not copied
        again. Where nothing is kept, or the card names no version (loading it then says what is wrong with
        it), `source` itself is returned."""
        if self.root is None:
            return source
        model_root = self.root / name
        model_root.mkdir(parents=True, exist_ok=True)
        incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=model_root))
        try:
            for path in sorted(source.iterdir()):
                if path.is_file() and not path.name.endswith(SKIPPED_SUFFIXES):
                    shutil.copyfile(path, incoming / path.name)
            version = card_version(incoming)  # the copied card: the one whose weights were copied
            if version is None:
                return source
            kept = model_root / folder_name(version)
            if not kept.exists():
                incoming.rename(kept)
            return kept
        except OSError as error:
            raise ArtifactError(name, f"the folder could not be copied: {error}") from error
        finally:
            if incoming.exists():
                shutil.rmtree(incoming)

    def kept(self, name: str, version: str) -> Path | None:
        folder = self.folder(name, version)
        return folder if folder is not None and folder.is_dir() else None

    def versions(self, name: str) -> list[str]:
        """The versions a load call may name for `name`, oldest first."""
        return [version for version in self.served.get(name, []) if self.kept(name, version)]

    def record_served(self, name: str, version: str) -> None:
        """`version` now serves: it joins the history, and copies outside the last KEEP are deleted."""
        history = [kept for kept in self.served.get(name, []) if kept != version] + [version]
        self.served[name] = history[-KEEP:]
        self.prune(name)

    def prune(self, name: str) -> None:
        """Delete the copies of `name` that are not in its history (failed attempts, old versions)."""
        if self.root is None:
            return
        wanted = {self.folder(name, version) for version in self.served.get(name, [])}
        model_root = self.root / name
        if not model_root.is_dir():
            return
        for folder in model_root.iterdir():
            if folder not in wanted:
                shutil.rmtree(folder, ignore_errors=True)

    def forget(self, name: str) -> None:
        """A removed model: its copies go too."""
        self.served.pop(name, None)
        if self.root is not None:
            shutil.rmtree(self.root / name, ignore_errors=True)
