from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"

    def ready(self) -> None:
        # Imported here: models can be imported only once Django has loaded the apps.
        from jobs import recovery
        from jobs.models import Job
        from predictions.batch import delete_draft, enqueue_missing_chunks

        # Batch jobs stay running while their chunks run: chunks never claim the job.
        recovery.register(Job.Kind.BATCH_INFERENCE, enqueue_missing_chunks, keeps_running=True)
        # A draft left untouched for BATCH_DRAFT_EXPIRE_HOURS goes, with its files.
        recovery.register_draft_discarder(Job.Kind.BATCH_INFERENCE, delete_draft)
