from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training data and models"

    def ready(self) -> None:
        # Imported here: models can be imported only once Django has loaded the apps.
        from jobs import recovery
        from jobs.models import Job
        from training.enqueue import run_job_again

        recovery.register(Job.Kind.TRAINING, run_job_again)
        recovery.register(Job.Kind.EVALUATION, run_job_again)
