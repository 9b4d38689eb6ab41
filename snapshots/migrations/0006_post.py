"""Posts per account (`snapshots.Post`), upserted by collection per (account, platform post id)."""

import django.db.models.deletion
import django.db.models.expressions
import django.db.models.functions.comparison
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("snapshots", "0005_anomaly_reason"),
    ]

    operations = [
        migrations.CreateModel(
            name="Post",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("platform_post_id", models.CharField(max_length=255, verbose_name="platform post id")),
                ("url", models.URLField(blank=True, max_length=1000)),
                (
                    "post_type",
                    models.CharField(
                        choices=[
                            ("post", "Post"),
                            ("reply", "Reply"),
                            ("repost", "Repost"),
                            ("video", "Video"),
                            ("short", "Short video"),
                            ("link", "Link"),
                            ("other", "Other"),
                        ],
                        default="post",
                        max_length=10,
                    ),
                ),
                ("text", models.CharField(blank=True, max_length=500)),
                ("published_at", models.DateTimeField()),
                ("likes", models.BigIntegerField(blank=True, null=True)),
                ("comments", models.BigIntegerField(blank=True, null=True)),
                ("shares", models.BigIntegerField(blank=True, null=True)),
                ("views", models.BigIntegerField(blank=True, null=True)),
                (
                    "engagement",
                    models.GeneratedField(
                        db_persist=True,
                        expression=models.Case(
                            models.When(
                                models.Q(
                                    ("likes__isnull", True),
                                    ("comments__isnull", True),
                                    ("shares__isnull", True),
                                ),
                                then=None,
                            ),
                            default=django.db.models.expressions.CombinedExpression(
                                django.db.models.expressions.CombinedExpression(
                                    django.db.models.functions.comparison.Coalesce("likes", models.Value(0)),
                                    "+",
                                    django.db.models.functions.comparison.Coalesce(
                                        "comments", models.Value(0)
                                    ),
                                ),
                                "+",
                                django.db.models.functions.comparison.Coalesce("shares", models.Value(0)),
                            ),
                            output_field=models.BigIntegerField(null=True),
                        ),
                        output_field=models.BigIntegerField(null=True),
                        verbose_name="engagement total",
                    ),
                ),
                ("collected_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="platform_posts",
                        to="accounts.account",
                    ),
                ),
            ],
            options={
                "ordering": ["-published_at", "id"],
                "get_latest_by": "published_at",
                "indexes": [
                    models.Index(fields=["account", "-published_at"], name="post_account_published_idx"),
                    models.Index(fields=["-published_at"], name="post_published_idx"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("account", "platform_post_id"), name="post_account_platform_id_unique"
                    )
                ],
            },
        ),
    ]
