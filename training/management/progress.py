"""Terminal progress bars for the management commands."""

from collections.abc import Callable

from tqdm import tqdm


class LoadingBar:
    """A `(done, total)` progress callback drawn as one bar, closed when done."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.description, unit="img", mininterval=0.5)
        self.bar.update(done - self.bar.n)
        if done >= total:
            self.bar.close()


class EpochBarListener:
    """A training listener: one bar per epoch, and a line of metrics after each."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write
        self.bar: tqdm | None = None

    def on_batch_end(self, epoch: int, batch: int, batches_per_epoch: int, metrics: dict) -> None:
        if self.bar is None:
            self.bar = tqdm(total=batches_per_epoch, desc=f"Epoch {epoch}", unit="batch")
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{metrics.get('loss', 0):.3f}", refresh=False)

    def on_epoch_end(self, epoch: int, epochs: int, metrics: dict) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        self.write(
            f"epoch {epoch}/{epochs}: loss {metrics['loss']:.4f} "
            f"accuracy {metrics['accuracy']:.4f} val_loss {metrics['val_loss']:.4f} "
            f"val_accuracy {metrics['val_accuracy']:.4f} lr {metrics['learning_rate']:.2e}"
        )

    def should_stop(self) -> bool:
        return False
