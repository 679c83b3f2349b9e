"""`itm webhooks`: manage outbound webhook subscriptions (docs/webhooks.md).

  itm webhooks add URL --topic T [--topic T ...] [--secret whsec_...] [--description D] [--max-attempts N]
  itm webhooks list [--json]
  itm webhooks rm ID            (also pause ID, resume ID)
  itm webhooks dead ID [--json] the subscription's dead letters
  itm webhooks replay ID [LETTER_ID ...]   queue dead letters again (all when none is named)
  itm webhooks rotate ID [--secret whsec_...] [--previous-valid-s N]   a new signing secret

Calls ``itm.v1.WebhookService`` as an HR admin: ``--token`` / ``ITM_TOKEN``, else a
token minted with the dev stack's key; the service is the local stack's unless
``--target host:port`` says otherwise.
"""

from __future__ import annotations

import asyncio
import json

import click
from google.protobuf import json_format

OPTIONS = [
    click.option("--data-dir", default=None, envvar="ITM_DATA_DIR",
                 help="the stack's directory; default: ITM_DATA_DIR, else the nearest .itm, else the running stack"),
    click.option("--target", default=None, help="host:port of the webhooks service (default: the local stack's)"),
    click.option("--token", envvar="ITM_TOKEN", default=None,
                 help="an HR admin's bearer token (also ITM_TOKEN); default: one minted with the dev stack's key"),
]


def _options(fn):
    for option in reversed(OPTIONS):
        fn = option(fn)
    return fn


def _call(data_dir, target, token, method: str, request):
    """One WebhookService call; gRPC errors become a click error with the service's words."""
    import grpc

    from itm import cli
    from itm.runtime.auth import bearer, mint_token
    from itm.runtime.settings import load_settings
    from itm.v1 import webhooks_pb2_grpc

    settings = load_settings()
    target = target or cli._targets_from_state(cli._stack_dir(data_dir)).get("webhooks")
    if not target:
        raise click.ClickException("no webhooks service found; pass --target host:port")
    metadata = bearer(token or mint_token(settings, "itm-cli", "hr_admin"))

    async def run():
        async with grpc.aio.insecure_channel(target) as channel:
            stub = webhooks_pb2_grpc.WebhookServiceStub(channel)
            return await getattr(stub, method)(request, metadata=metadata, timeout=30)

    try:
        return asyncio.run(run())
    except grpc.aio.AioRpcError as exc:
        raise click.ClickException(f"{exc.code().name}: {exc.details()}") from None


def _json(message) -> str:
    return json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True), ensure_ascii=False)


@click.group("webhooks")
def webhooks() -> None:
    """Outbound webhooks: CloudEvents POSTed to other systems, signed (docs/webhooks.md)."""


@webhooks.command("add")
@click.argument("url")
@click.option("--topic", "topics", multiple=True, required=True, help="a public topic (repeat for more)")
@click.option("--secret", default="", help="whsec_ + base64 (Standard Webhooks); default: generated and printed once")
@click.option("--description", default="")
@click.option("--max-attempts", type=int, default=0, help="attempts per event before its dead letter (0: default)")
@_options
def add(url, topics, secret, description, max_attempts, data_dir, target, token) -> None:
    """Register URL for the events of the given topics; prints the id and the signing secret."""
    from itm.v1 import webhooks_pb2 as W

    out = _call(data_dir, target, token, "CreateSubscription", W.CreateSubscriptionRequest(
        topics=list(topics), url=url, secret=secret, description=description, max_attempts=max_attempts))
    click.echo(f"subscription {out.subscription.subscription_id} -> {url}")
    click.echo(f"topics       {', '.join(out.subscription.topics)}")
    click.echo(f"secret       {out.secret}   (shown only now: give it to the receiver)")


@webhooks.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@_options
def list_(as_json, data_dir, target, token) -> None:
    """Every subscription with its backlog, dead letters and last error."""
    from itm.v1 import webhooks_pb2 as W

    token_, subs = "", []
    while True:
        page = _call(data_dir, target, token, "ListSubscriptions", W.ListSubscriptionsRequest(
            page_size=100, page_token=token_))
        subs += page.subscriptions
        token_ = page.next_page_token
        if not token_:
            break
    for s in subs:
        if as_json:
            click.echo(_json(s))
            continue
        state = "paused" if s.paused else "active"
        click.echo(f"{s.subscription_id}  {state:<6}  backlog {s.backlog:<5} dead {s.dead_letters:<4} {s.url}")
        click.echo(f"    topics: {', '.join(s.topics)}" + (f"\n    last error: {s.last_error}" if s.last_error else ""))
    if not subs and not as_json:
        click.echo("no webhook subscriptions")


def _simple(method: str, verb: str):
    @_options
    @click.argument("subscription_id")
    def command(subscription_id, data_dir, target, token) -> None:
        from itm.v1 import webhooks_pb2 as W

        request = getattr(W, f"{method}Request")(subscription_id=subscription_id)
        out = _call(data_dir, target, token, method, request)
        extra = f" ({out.discarded} queued or dead events discarded)" if method == "DeleteSubscription" else ""
        click.echo(f"{verb} {subscription_id}{extra}")

    return command


webhooks.command("rm", help="Delete a subscription with its queue and dead letters.")(
    _simple("DeleteSubscription", "deleted"))
webhooks.command("pause", help="Stop delivering; events keep queueing.")(_simple("PauseSubscription", "paused"))
webhooks.command("resume", help="Deliver again, the queued events first.")(_simple("ResumeSubscription", "resumed"))


@webhooks.command("dead")
@click.argument("subscription_id")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per line")
@_options
def dead(subscription_id, as_json, data_dir, target, token) -> None:
    """The subscription's dead letters: events that ran out of attempts, oldest first."""
    from itm.v1 import webhooks_pb2 as W

    page_token, total = "", 0
    while True:
        page = _call(data_dir, target, token, "ListDeadLetters", W.ListDeadLettersRequest(
            subscription_id=subscription_id, page_size=500, page_token=page_token))
        total = page.total
        for letter in page.letters:
            if as_json:
                click.echo(_json(letter))
            else:
                click.echo(f"{letter.letter_id}  {letter.event_type}  {letter.subject}  event {letter.event_id}  "
                           f"{letter.attempts} attempts, last: {letter.last_error}")
        page_token = page.next_page_token
        if not page_token:
            break
    if not as_json:
        click.echo(f"{total} dead letters")


@webhooks.command("replay")
@click.argument("subscription_id")
@click.argument("letter_ids", nargs=-1)
@_options
def replay(subscription_id, letter_ids, data_dir, target, token) -> None:
    """Queue dead letters for delivery again (all of them unless LETTER_IDs are named)."""
    from itm.v1 import webhooks_pb2 as W

    out = _call(data_dir, target, token, "ReplayDeadLetters", W.ReplayDeadLettersRequest(
        subscription_id=subscription_id, letter_ids=list(letter_ids)))
    click.echo(f"{out.replayed} dead letters queued again for {subscription_id}")


@webhooks.command("rotate")
@click.argument("subscription_id")
@click.option("--secret", default="", help="the new whsec_ secret; default: generated and printed once")
@click.option("--previous-valid-s", type=int, default=0,
              help="how long the old secret still signs beside the new one (0: 24 hours; at most 7 days)")
@_options
def rotate(subscription_id, secret, previous_valid_s, data_dir, target, token) -> None:
    """A new signing secret; deliveries carry both signatures until the old one expires."""
    from itm.v1 import webhooks_pb2 as W

    out = _call(data_dir, target, token, "RotateSecret", W.RotateSecretRequest(
        subscription_id=subscription_id, secret=secret, previous_valid_s=previous_valid_s))
    click.echo(f"secret       {out.secret}   (shown only now: give it to the receiver)")
    click.echo(f"the previous secret signs too until {out.previous_expires_at.ToJsonString()}")
