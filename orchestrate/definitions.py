"""The Dagster code location: one partitioned job per Meltano job, one partition per account.

- ``crm_accounts``: `meltano run --state-id-suffix=<account> account-to-postgres` (the default
  selection: every stream but the per-deal history, see meltano.yml).
- ``crm_accounts_deal_history``: the per-deal history streams, `account-deal-history-to-postgres`.
- ``crm_accounts_hourly`` / ``crm_accounts_deal_history_daily``: schedules (off until switched
  on) that ask for one run per account at each tick.

Across accounts, runs go as wide as the Dagster instance allows (its run queue's
``max_concurrent_runs``). Per account, one at a time: every run carries the tag
``crm/account=<account>`` and the instance's run queue limits that tag to 1 per value
(orchestrate/dagster.yaml), so a second run of an account waits in the queue before it starts.
"""

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from dagster import (
    ConfigurableResource,
    DefaultScheduleStatus,
    Definitions,
    Failure,
    JobDefinition,
    MetadataValue,
    OpDefinition,
    OpExecutionContext,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    job,
    op,
    schedule,
    static_partitioned_config,
)

from orchestrate.accounts import Account, AccountListError
from orchestrate.meltano import (
    Outcome,
    account_env,
    meltano_command,
    run_meltano,
)

ACCOUNT_TAG = "crm/account"
REPOSITORY = Path(__file__).resolve().parent.parent
# Dagster job -> Meltano job (meltano.yml `jobs:`)
MELTANO_JOBS = {
    "crm_accounts": "account-to-postgres",
    "crm_accounts_deal_history": "account-deal-history-to-postgres",
}


class MeltanoProjectResource(ConfigurableResource):
    """Where the Meltano project is on the worker and how to call Meltano.

    The project directory holds meltano.yml and its installed plugins (`meltano install`, e.g.
    at image build); nothing else on the worker is kept between runs: state lives in the
    backend MELTANO_DATABASE_URI (or MELTANO_STATE_BACKEND_URI) names.
    """

    project_dir: str = str(REPOSITORY)
    meltano: str = "meltano"
    environment: str = "prod"
    # Seconds one Meltano run may take before it is stopped (0: no limit).
    timeout_seconds: int = 0


def _meltano_op(name: str, meltano_job: str, accounts: dict[str, Account]) -> OpDefinition:
    @op(name=f"{name}_meltano_run", tags={"kind": "meltano"})
    def meltano_run_for_account(
        context: OpExecutionContext, meltano: MeltanoProjectResource
    ) -> None:
        account = accounts[context.partition_key]
        try:
            env = account_env(account, os.environ, {"MELTANO_ENVIRONMENT": meltano.environment})
        except AccountListError as error:
            raise Failure(description=str(error)) from None
        command = meltano_command(meltano.meltano, account, meltano_job, force=True)
        context.log.info(f"{account.name} ({account.provider}): {' '.join(command[1:])}")
        result = run_meltano(
            command,
            cwd=Path(meltano.project_dir),
            env=env,
            log=context.log.info,
            timeout=meltano.timeout_seconds or None,
        )
        metadata = {
            "account": account.name,
            "provider": account.provider,
            "meltano_job": meltano_job,
            "state_id_suffix": account.name,
            "outcome": result.outcome.value,
            "exit_codes": MetadataValue.json(result.exit_codes),
        }
        if result.outcome is Outcome.FAILED:
            raise Failure(
                description=(
                    f"meltano run for {account.name} exited {result.returncode}"
                    f" ({result.exit_codes or 'no exit codes: killed or stopped before a block'})"
                ),
                metadata={**metadata, "last_errors": "\n".join(result.last_errors)[-4000:]},
            )
        if result.outcome is Outcome.STOPPED_AT_CAP:
            # Retry later, not a failure: the state up to the stop is saved; the next run of
            # this account (its next schedule tick) continues where this one stopped.
            context.log.warning(
                f"{account.name}: stopped at the run's token cap; the next run continues"
            )
        context.add_output_metadata(metadata)

    return meltano_run_for_account


def account_job(name: str, accounts: Sequence[Account]) -> JobDefinition:
    by_name = {account.name: account for account in accounts}
    meltano_job = MELTANO_JOBS[name]

    @static_partitioned_config(
        partition_keys=list(by_name),
        tags_for_partition_key_fn=lambda key: {ACCOUNT_TAG: key},
    )
    def account_config(partition_key: str) -> dict[str, object]:
        return {}

    step = _meltano_op(name, meltano_job, by_name)

    @job(
        name=name,
        config=account_config,
        description=f"`meltano run --state-id-suffix=<account> {meltano_job}`, one account a run",
    )
    def account_runs() -> None:
        step()

    return account_runs


def accounts_schedule(
    name: str, cron: str, target: JobDefinition, accounts: Sequence[Account]
) -> ScheduleDefinition:
    """One run request per account at each tick; the run queue decides how many run at once."""

    @schedule(
        name=name, cron_schedule=cron, job=target, default_status=DefaultScheduleStatus.STOPPED
    )
    def every_account(context: ScheduleEvaluationContext) -> Iterator[RunRequest]:
        tick = context.scheduled_execution_time.strftime("%Y%m%dT%H%M")
        for account in accounts:
            yield RunRequest(
                run_key=f"{account.name}-{tick}",
                partition_key=account.name,
                tags={ACCOUNT_TAG: account.name},
            )

    return every_account


def build_definitions(accounts: Sequence[Account], project: MeltanoProjectResource) -> Definitions:
    extract, deal_history = (account_job(name, accounts) for name in MELTANO_JOBS)
    return Definitions(
        jobs=[extract, deal_history],
        schedules=[
            accounts_schedule("crm_accounts_hourly", "0 * * * *", extract, accounts),
            # The per-deal history costs a request per changed deal (docs/costs.md): once a day.
            accounts_schedule(
                "crm_accounts_deal_history_daily", "30 2 * * *", deal_history, accounts
            ),
        ],
        resources={"meltano": project},
    )


def project_from_env() -> MeltanoProjectResource:
    return MeltanoProjectResource(
        project_dir=os.environ.get("CRM_MELTANO_PROJECT_DIR", str(REPOSITORY)),
        meltano=os.environ.get("CRM_MELTANO", "meltano"),
        environment=os.environ.get("CRM_MELTANO_ENVIRONMENT", "prod"),
    )
