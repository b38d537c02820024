from django.apps import AppConfig


class PredictionsConfig(AppConfig):
    name = "predictions"

    def ready(self) -> None:
        # Imported here: models can be imported only once Django has loaded the apps.
        from jobs import recovery
        from jobs.models import Job
        from predictions.batch import check_silent_job, delete_draft, send_chunk

        # Batch jobs are made of chunks (jobs.scheduling dispatches them fairly).
        recovery.register(Job.Kind.BATCH_INFERENCE, check_silent_job, send_chunk=send_chunk)
        # A draft left untouched for BATCH_DRAFT_EXPIRE_HOURS goes, with its files.
        recovery.register_draft_discarder(Job.Kind.BATCH_INFERENCE, delete_draft)
