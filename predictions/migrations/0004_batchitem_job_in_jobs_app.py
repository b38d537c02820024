# BatchItem.job points at jobs.Job (the same table, training_job): state only.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_job_from_training'),
        ('predictions', '0003_prediction_owner'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # The table stays; only where Django thinks the model lives changes.
            state_operations=[
                migrations.AlterField(
                    model_name='batchitem',
                    name='job',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batch_items', to='jobs.job'),
                ),
            ],
            database_operations=[],
        ),
    ]
