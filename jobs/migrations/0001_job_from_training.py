# The Job model moves from the training app to this one, keeping its table
# (training_job) and every row: state only. Its content type moves with it, so the
# permissions granted on jobs (add/change/view/delete_job) stay granted, now named
# jobs.*_job instead of training.*_job.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _move_content_type(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label=target, model="job").exists():
        ContentType.objects.filter(app_label=source, model="job").update(app_label=target)


def content_type_to_jobs(apps, schema_editor):
    _move_content_type(apps, "training", "jobs")


def content_type_to_training(apps, schema_editor):
    _move_content_type(apps, "jobs", "training")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('training', '0006_snapshot_label_and_split'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The table stays; only where Django thinks the model lives changes.
            state_operations=[
                migrations.CreateModel(
                    name='Job',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('kind', models.CharField(choices=[('batch_inference', 'Batch inference'), ('training', 'Training'), ('evaluation', 'Evaluation')], max_length=20)),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], default='queued', max_length=10)),
                        ('progress', models.FloatField(default=0.0, help_text='0 to 1; never decreases.')),
                        ('processed', models.PositiveIntegerField(default=0)),
                        ('total', models.PositiveIntegerField(default=0)),
                        ('epoch', models.PositiveIntegerField(default=0)),
                        ('total_epochs', models.PositiveIntegerField(default=0)),
                        ('metrics', models.JSONField(blank=True, default=dict, help_text='Latest metrics.')),
                        ('history', models.JSONField(blank=True, default=list, help_text='Metrics per epoch.')),
                        ('result', models.JSONField(blank=True, default=dict)),
                        ('parameters', models.JSONField(blank=True, default=dict)),
                        ('message', models.CharField(blank=True, max_length=200)),
                        ('error', models.TextField(blank=True, help_text="Short: the exception's class and message, without paths.")),
                        ('traceback', models.TextField(blank=True, editable=False, help_text='For administrators only; never in the API.')),
                        ('access_key_hash', models.CharField(blank=True, editable=False, max_length=64)),
                        ('cancel_requested', models.BooleanField(default=False)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('celery_task_id', models.CharField(blank=True, max_length=64)),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('model_version', models.ForeignKey(blank=True, help_text='Batch inference: the version predicting. Evaluation: the version evaluated. Training: the version created.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='training.modelversion')),
                        ('submitted_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
                    ],
                    options={
                        'db_table': 'training_job',
                        'ordering': ['-created_at', '-id'],
                        'indexes': [models.Index(fields=['status', 'heartbeat_at'], name='training_jo_status_0e0373_idx')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_to_jobs, content_type_to_training),
    ]
