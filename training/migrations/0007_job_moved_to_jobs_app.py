# Job now lives in the jobs app (same table): the foreign keys to it follow, state only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_job_from_training'),
        ('predictions', '0004_batchitem_job_in_jobs_app'),
        ('training', '0006_snapshot_label_and_split'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The table stays; only where Django thinks the model lives changes.
            state_operations=[
                migrations.AlterField(
                    model_name='modelversion',
                    name='job',
                    field=models.OneToOneField(blank=True, editable=False, help_text='The training job that created it; unique, so a redelivered job can never create a second version.', null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='created_version', to='jobs.job'),
                ),
                migrations.AlterField(
                    model_name='jobtrainingimage',
                    name='job',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='jobs.job'),
                ),
                migrations.DeleteModel(
                    name='Job',
                ),
            ],
            database_operations=[],
        ),
    ]
