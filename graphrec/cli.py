"""The `graphrec` command. Settings are built once here and passed down; GraphrecErrors become one line + exit 1."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

import click

from graphrec import __version__
from graphrec.config import Settings, load_settings
from graphrec.errors import GraphrecError


def _echo_json(obj) -> None:
    click.echo(json.dumps(obj, indent=2, default=str))


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _connect(ctx: click.Context):
    """Open the configured graph, starting the embedded server first when it is the one configured."""
    from graphrec.db.connect import connect
    from graphrec.db.server import EmbeddedServer

    settings = _settings(ctx)
    if settings.embedded and not EmbeddedServer(settings.home).status().running:
        click.echo(f"starting the embedded graph server in {settings.home} ...", err=True)
    return connect(settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="graphrec")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="TOML settings file "
              "(default: $GRAPHREC_CONFIG or <home>/config.toml).")
@click.option("--home", type=click.Path(file_okay=False), help="graphrec home folder (default: $GRAPHREC_HOME or ~/.graphrec).")
@click.option("--uri", help="Bolt URI of a Neo4j server (default: $NEO4J_URI; none means the embedded server).")
@click.option("--user", help="Database user (default: $NEO4J_USER).")
@click.option("--database", help="Database name (default: $NEO4J_DATABASE or neo4j).")
@click.option("--user-label", help="Mapping: the label of user nodes (default User; see `graphrec inspect`).")
@click.option("--user-id", help="Mapping: the property naming each user, or elementId (default id).")
@click.option("--item-label", help="Mapping: the label of item nodes (default Item).")
@click.option("--item-id", help="Mapping: the property naming each item, or elementId (default id).")
@click.option("--interaction", "interactions", multiple=True, metavar="SPEC",
              help="Mapping: an interaction type from user to item, repeatable: TYPE[,weight=PROP|NUMBER]"
                   "[,timestamp=PROP][,split=PROP][,where=PROP OP VALUE] (default INTERACTED).")
@click.option("--kg", multiple=True, metavar="TYPE", help="Mapping: a KG relationship type off items, repeatable.")
@click.option("--kg-hops", type=click.IntRange(1, 5), help="Mapping: how many hops out from items the KG is read.")
@click.option("--social", multiple=True, metavar="TYPE", help="Mapping: a social type between users, repeatable.")
@click.option("--social-undirected", "social_directed", flag_value=False, default=None,
              help="Mapping: read each social tie both ways (friendships stored once per pair).")
@click.pass_context
def cli(ctx: click.Context, config_file, home, uri, user, database, **mapping) -> None:
    """graphrec: graph recommenders trained from, and served in, a Neo4j graph database.

    With no NEO4J_URI set, graphrec runs its own local graph server (see `graphrec db status`). A graph in your own
    shape is read through a mapping: the config file's [mapping] section or the mapping options (`graphrec inspect`
    proposes one).
    """
    ctx.ensure_object(dict)
    ctx.obj["settings"] = load_settings(config_file, home=home, uri=uri, user=user, database=database,
                                        mapping=mapping)


@cli.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print as a JSON object.")
@click.pass_context
def config_cmd(ctx: click.Context, as_json: bool) -> None:
    """Print the resolved settings (password masked) and where each came from."""
    shown = _settings(ctx).masked()
    if as_json:
        _echo_json(shown)
        return
    origin = shown.pop("origin")
    for key, value in shown.items():
        source = f"   ({origin[key]})" if key in origin else ""
        click.echo(f"{key:12} {value}{source}")


# ---- the embedded server ------------------------------------------------------------------------------------------
@cli.group("db")
def db_group() -> None:
    """Manage the embedded graph server (used when no NEO4J_URI is configured)."""


def _server(ctx: click.Context):
    from graphrec.db.server import EmbeddedServer

    s = _settings(ctx)
    return EmbeddedServer.of(s)


def _print_status(status, as_json: bool) -> None:
    if as_json:
        _echo_json(status.as_dict())
    elif status.running:
        click.echo(f"running   pid {status.pid}\n"
                   f"uri       {status.uri}   (Bolt, loopback only)\n"
                   f"http      {status.http_url}\n"
                   f"browser   {status.browser_url}   (Neo4j Browser; log in as {status.user})\n"
                   f"user      {status.user}\n"
                   f"password  in {status.password_file}\n"
                   f"database  {status.database}\n"
                   f"log       {status.log_file}")
    else:
        click.echo(f"stopped   (home {status.home})")


@db_group.command("start")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def db_start(ctx: click.Context, as_json: bool) -> None:
    """Start the embedded server (harmless when it already runs)."""
    server = _server(ctx)
    if not server.status().running and not as_json:
        click.echo(f"starting the embedded graph server in {server.home} ...", err=True)
    _print_status(server.start(), as_json)


@db_group.command("stop")
@click.pass_context
def db_stop(ctx: click.Context) -> None:
    """Stop the embedded server; its data stays in the home folder."""
    click.echo("stopped" if _server(ctx).stop() else "not running")


@db_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print uri, user, password_file ... as a JSON object.")
@click.pass_context
def db_status(ctx: click.Context, as_json: bool) -> None:
    """Say whether the embedded server runs, where, and how to connect."""
    _print_status(_server(ctx).status(), as_json)


@db_group.command("reset")
@click.option("--yes", is_flag=True, help="Confirm deleting every node and relationship.")
@click.pass_context
def db_reset(ctx: click.Context, yes: bool) -> None:
    """Delete the whole graph: on the embedded server its databases (data, indexes; the password stays), on an
    external Neo4j every node and relationship (in batches) and graphrec's vector indexes."""
    if not yes:
        raise click.UsageError("this deletes the whole graph; pass --yes to confirm")
    settings = _settings(ctx)
    if settings.embedded:
        server = _server(ctx)
        running = server.status().running
        server.wipe()
        if running:
            server.start()
    else:
        from graphrec.db.connect import connect

        with connect(settings) as graph:
            graph.clear()
    click.echo("the graph is empty")


@db_group.command("setup")
@click.pass_context
def db_setup(ctx: click.Context) -> None:
    """Fetch the embedded Neo4j's pinned jars (once, into the cache) and check that a fitting Java is there."""
    from graphrec.db import distribution
    from graphrec.progress import bar

    jars = distribution.lock()
    with bar(f"Neo4j {distribution.NEO4J_VERSION} jars", len(jars)) as advance:
        folder = distribution.ensure_jars(on_jar=lambda jar: advance(1))
    java = distribution.find_java()
    click.echo(f"Neo4j {distribution.NEO4J_VERSION} + Browser {distribution.BROWSER_VERSION}: {len(jars)} jars in "
               f"{folder}\njava: {java} (Java {distribution.java_major(java)})")


# ---- ad-hoc Cypher ----------------------------------------------------------------------------------------------------
def _parse_param(text: str, option: str = "--param") -> tuple[str, object]:
    """``NAME=VALUE`` binds the text VALUE; ``NAME:=VALUE`` binds VALUE read as JSON (a number, a list, null ...)."""
    key, sep, value = text.partition("=")
    typed = key.endswith(":")
    key = key[:-1] if typed else key
    if not sep or not key.isidentifier():
        raise click.BadParameter(f"expected NAME=VALUE (text) or NAME:=JSON, got {text!r}", param_hint=option)
    if not typed:
        return key, value
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        raise click.BadParameter(f"{key}:= takes a JSON value (10, 2.5, true, null, [\"a\", \"b\"]), got {value!r}; "
                                 f"use {key}={value} for text", param_hint=option) from None


def _parse_hparam(text: str) -> tuple[str, object]:
    """``--hp NAME=VALUE``: VALUE read as JSON where it is JSON (numbers, true/false, lists), else as text; the model's
    constructor checks it."""
    key, sep, value = text.partition("=")
    if not sep or not key.isidentifier():
        raise click.BadParameter(f"expected NAME=VALUE, got {text!r}", param_hint="--hp")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


@cli.command("cypher")
@click.argument("query")
@click.option("--param", "-p", "params", multiple=True,
              help="NAME=VALUE binds the text VALUE as $NAME (ids are text); NAME:=VALUE binds it read as JSON "
                   "(-p k:=10, -p ids:='[\"u1\",\"u2\"]').")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as a JSON list.")
@click.pass_context
def cypher_cmd(ctx: click.Context, query: str, params: tuple[str, ...], as_json: bool) -> None:
    """Run one Cypher statement against the configured database and print the rows."""
    bound = dict(_parse_param(p) for p in params)
    # The driver would also log each notification (a multi-line repr on stderr); they are shown once, below.
    notification_log = logging.getLogger("neo4j.notifications")
    notification_log.addHandler(logging.NullHandler())
    notification_log.propagate = False
    with _connect(ctx) as graph:
        rows, warnings = graph.user_query(query, bound)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        click.echo("(no rows)")
        return
    keys = list(rows[0])
    click.echo("\t".join(keys))
    for row in rows:
        click.echo("\t".join(json.dumps(row.get(k), default=str) if not isinstance(row.get(k), str) else row[k]
                             for k in keys))
    click.echo(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", err=True)


# ---- ingest and stats -------------------------------------------------------------------------------------------------
@cli.command("ingest")
@click.argument("format_name", metavar="FORMAT")
@click.argument("path", type=click.Path(exists=False))
@click.option("--option", "-o", "options", multiple=True,
              help="Loader option NAME=VALUE (e.g. -o kg=false, -o user_col=customer); see `graphrec formats`.")
@click.option("--batch-edges", type=int, default=None, help="Edges per transaction (default 10,000).")
@click.option("--writers", type=int, default=None,
              help="Sessions writing edges at once, each on its own share of the users and, in turns, of the "
              "items (default 2).")
@click.option("--merge", is_flag=True, help="Add this dataset to a graph that holds another one (or nodes of the same "
              "ids from elsewhere) on purpose; without it such an ingest is refused before writing anything.")
@click.option("--offline/--online", default=None,
              help="--offline: build the embedded server's new database with Neo4j's offline importer (the default "
              "when that database was never created); --online: write over Bolt (the default otherwise).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def ingest_cmd(ctx: click.Context, format_name: str, path: str, options: tuple[str, ...],
               batch_edges: int | None, writers: int | None, merge: bool, offline: bool | None,
               as_json: bool) -> None:
    """Load PATH in FORMAT (validating every file first) and write it into the graph. Safe to run again."""
    import loaders
    from graphrec.firstload import first_load, refusal
    from graphrec.ingest import ingest
    from graphrec.progress import bar

    settings = _settings(ctx)
    if not settings.mapping.is_default:
        raise click.UsageError("ingest writes graphrec's own schema (User, Item, INTERACTED ...), and a mapping is "
                               "configured: graphrec reads that graph as it is. Ingest into another home (--home), or "
                               "drop the mapping")
    opts = loaders.parse_options(format_name, options)
    click.echo(f"reading {path} as {format_name} ...", err=True)
    dataset = loaders.load(format_name, path, **opts)
    from loaders.records import KG_ID_FIX

    collisions = dataset.kg_id_collisions()
    if collisions:
        click.echo(f"warning: {collisions['phantom_items']:,} KG ids read as items name no item of the interactions, "
                   f"and {collisions['entity_item_ids']:,} read as entities are items' ids: {KG_ID_FIX}", err=True)
    reason = "--online" if offline is False else refusal(settings, dataset)
    if offline and reason:
        raise click.UsageError(f"--offline: {reason}")
    if reason is None:
        click.echo(f"first load of a new database: Neo4j's offline importer builds it in {settings.home} (--online "
                   "writes over Bolt instead)", err=True)
        report = first_load(settings, dataset, merge=merge, progress=bar)
    else:
        click.echo(f"writing over Bolt ({reason})", err=True)
        with _connect(ctx) as graph:
            report = ingest(graph, dataset, batch_edges=batch_edges, writers=writers, merge=merge, progress=bar)
    if as_json:  # the KG id collisions too (None: no sign of them), with the fix, as the warning above says
        _echo_json({**report.__dict__, "interactions_per_second": report.interactions_per_second,
                    "kg_id_collisions": {**collisions, "fix": KG_ID_FIX} if collisions else None})
        return
    click.echo(f"ingested {report.dataset}: created {report.created}")
    if any(report.present.values()):
        click.echo(f"already present (unchanged): {report.present}")
    if any(report.updated.values()):
        click.echo(f"updated: {report.updated}")
    if report.duplicates:
        click.echo(f"repeated rows in the source, kept once: {report.duplicates}")
    if report.conflicts:
        click.echo(f"of them, {report.conflicts} repeat an interaction with another weight or timestamp: the last row "
                   "of each was kept", err=True)
    if report.retried:
        click.echo(f"{report.retried} write transaction(s) met a deadlock between graphrec's writers and were redone "
                   "(it happens now and then; nothing is lost or written twice)")
    if report.method == "offline":
        s = report.seconds
        click.echo(f"{s['total']:.1f}s in all: {s['csv']:.1f}s writing CSV, {s['import']:.1f}s in Neo4j's importer, "
                   f"{s['start']:.1f}s starting the server, {s['schema']:.1f}s for the constraints")
        return
    click.echo(f"{report.seconds['total']:.1f}s in all; interactions at {report.interactions_per_second:,.0f} edges/s")


@cli.command("formats")
@click.argument("name", required=False)
def formats_cmd(name: str | None) -> None:
    """List the dataset formats `graphrec ingest` reads and their options; `graphrec formats NAME` shows one format
    whole: its files and columns, and each option's type and default."""
    import inspect
    import typing

    import loaders

    if name is None:
        for fmt, loader in loaders.LOADERS.items():
            doc = (inspect.getdoc(loader) or "").splitlines()[0]
            click.echo(f"{fmt:10} {doc}\n{'':10} options: {', '.join(loaders.option_names(fmt)) or '-'}")
        click.echo("\n`graphrec formats NAME` shows a format's files, columns and option types "
                   "(e.g. `graphrec formats csv` for your own data).")
        return
    if name not in loaders.LOADERS:
        raise click.BadParameter(f"unknown format {name!r}; choose one of {', '.join(loaders.LOADERS)}",
                                 param_hint="NAME")
    loader = loaders.LOADERS[name]
    click.echo(f"{name}: {inspect.getdoc(loader)}\n")
    module_doc = inspect.getdoc(inspect.getmodule(loader)) or ""
    click.echo(module_doc.replace("``", "") + "\n")
    hints = typing.get_type_hints(loader)
    click.echo("options (-o NAME=VALUE):")
    for option in loaders.option_names(name):
        default = inspect.signature(loader).parameters[option].default
        kind = getattr(hints.get(option), "__name__", None) or str(hints.get(option)).replace("typing.", "")
        click.echo(f"  {option:16} {kind:24} default {default!r}")


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print as a JSON object.")
@click.pass_context
def stats_cmd(ctx: click.Context, as_json: bool) -> None:
    """Count nodes per label, relationships per type, interactions per split, KG triples and social edges."""
    from graphrec.stats import graph_stats

    with _connect(ctx) as graph:
        stats = graph_stats(graph)
    if as_json:
        _echo_json(stats)
        return
    click.echo("nodes:         " + ", ".join(f"{k} {v:,}" for k, v in stats["nodes"].items()))
    click.echo("relationships: " + ", ".join(f"{k} {v:,}" for k, v in stats["relationships"].items()))
    click.echo("interactions:  " + ", ".join(f"{k} {v:,}" for k, v in stats["interactions"].items()))
    click.echo(f"kg:            {stats['kg']['triples']:,} triples over {stats['kg']['relations']} relations, "
               f"{stats['entities']:,} entities")
    click.echo(f"social:        {stats['social']:,} {'|'.join(stats['social_types']) or 'social'} edges")
    health = stats["split_health"]
    if health:
        click.echo(f"stored split:  {health['users_with_test']:,} users with test interactions, "
                   f"{health['users_without_test']:,} with training but none in test; "
                   f"{health['train_test_overlap']:,} (user, item) pairs in both train and test; "
                   f"{health['test_items_unseen_in_train']:,} test interactions with an item no training interaction "
                   "has (no model can rank those from the graph)")
    collisions = stats["kg_id_collisions"]
    if collisions:
        click.echo(f"kg ids:        {collisions['phantom_items']:,} items nobody interacted with are KG heads or tails, "
                   f"and {collisions['entity_item_ids']:,} entities have an item's id: the KG file looks numbered in "
                   "one id space with the items and was read as two. Ingest again into an empty graph with "
                   "-o kg_ids=shared (csv), or with head_label/tail_label columns")
    for s in stats["sources"] or [{"key": "(none recorded)", "path": "", "status": "", "finished_at": None,
                                   "merged": False}]:
        merged = ", merged on purpose" if s["merged"] else ""
        when = f", {s['status']} {s['finished_at'] or ''}".rstrip() if s["status"] else ""
        click.echo(f"source:        {s['key']}  {s['path'] or ''}{when}{merged}".rstrip())


@cli.command("inspect")
@click.option("--json", "as_json", is_flag=True, help="Print the schema and the proposed mapping as JSON.")
@click.pass_context
def inspect_cmd(ctx: click.Context, as_json: bool) -> None:
    """Read the graph's labels, relationship types and properties, and propose a mapping for graphrec.

    Put the proposal (edited as needed) in a config file and run every command with it, e.g.
    `graphrec --config graphrec.toml train`; or give the mapping options (--user-label ...) instead.
    """
    from graphrec.inspect import propose, read_schema

    with _connect(ctx) as graph:
        schema = read_schema(graph)
        proposal = propose(graph, schema)
    if as_json:
        _echo_json({**schema.as_dict(), "mapping": proposal.describe() if proposal else None})
        return
    click.echo("labels:")
    for label, n in sorted(schema.labels.items(), key=lambda kv: -kv[1]):
        props = schema.node_properties.get(label, {})
        click.echo(f"  :{label:<20} {n:>10,}  " + ", ".join(f"{k} ({'/'.join(v)})" for k, v in sorted(props.items())))
    click.echo("relationships:")
    for p in schema.patterns:
        props = schema.relationship_properties.get(p["type"], {})
        text = f"(:{p['start']})-[:{p['type']}]->(:{p['end']})"
        click.echo(f"  {text:<50} {p['count']:>10,}  " + ", ".join(f"{k} ({'/'.join(v)})" for k, v in sorted(props.items())))
    if proposal is None:
        click.echo("no relationships between two labels: nothing to propose (ingest a dataset, or build your graph)")
    elif proposal.is_default:
        click.echo("this is graphrec's own schema: no mapping needed")
    else:
        click.echo("\nproposed mapping (read it, edit it, put it in a config file such as graphrec.toml, then run "
                   "`graphrec --config graphrec.toml train`):\n")
        click.echo(proposal.toml())


# ---- export, train, evaluate -------------------------------------------------------------------------------------------
def _data_options(f):
    f = click.option("--split", type=click.Choice(["auto", "stored", "random", "temporal", "time"]), default="auto",
                     show_default=True, help="auto: the stored split if the graph has one; else, on a mapped graph "
                     "with timestamps, time (one cut-off for all users); else random per user.")(f)
    f = click.option("--valid-fraction", default=0.1, show_default=True,
                     help="Share of each user's train interactions held out for validation when the graph has no "
                          "valid split (early stopping never looks at test).")(f)
    return click.option("--seed", default=2020, show_default=True, help="Seed of splits, initial weights, sampling.")(f)


@cli.command("export")
@click.argument("out", type=click.Path(dir_okay=False))
@_data_options
@click.pass_context
def export_cmd(ctx: click.Context, out: str, split: str, valid_fraction: float, seed: int) -> None:
    """Export the graph to a PyG HeteroData file OUT (torch.save) with its id maps beside it (OUT.ids.json)."""
    import torch

    from graphrec.export import export
    from graphrec.progress import bar

    with _connect(ctx) as graph:
        data, ids = export(graph, split=split, seed=seed, progress=bar)
    torch.save(data, out)
    ids.save(out + ".ids.json")
    click.echo(str(data))
    click.echo(f"wrote {out} and {out}.ids.json (split: {data.split_origin})")


def _models() -> list[str]:
    from graphrec.models import MODELS

    return sorted(MODELS)


def _spec(*decls: str, **attrs) -> tuple[str, tuple[str, ...], dict]:
    """An option's (parameter name, declarations, attributes), as click names the parameter."""
    named = [d for d in decls if not d.startswith("-")]
    name = named[0] if named else max((d.split("/")[0] for d in decls), key=len).lstrip("-").replace("-", "_")
    return name, decls, attrs


_TRAIN_OPTION_SPECS = (  # `graphrec train`'s training options (shared with tune and benchmarks/gowalla_accuracy.py)
    _spec("--model", "model_name", default="lightgcn", show_default=True, help="A registered model: "
           "see `graphrec models`."),
    _spec("--epochs", default=1000, show_default=True,
           help="Upper bound; early stopping usually ends sooner (with --eval-every 0: exactly this many)."),
    _spec("--batch-size", default=2048, show_default=True),
    _spec("--lr", default=1e-3, show_default=True),
    _spec("--sampler", type=click.Choice(["interaction", "user", "weighted"]), default="interaction",
           show_default=True, help="BPR pairs per epoch: every interaction once; users uniformly then one of their "
                "items (the LightGCN/NGCF reference code); or interactions in proportion to their mapped weight "
                "(several interaction types or ratings as one weighted graph)."),
    _spec("--dim", type=int, help="Embedding size (model default: 64)."),
    _spec("--layers", "num_layers", type=int, help="Propagation layers (model default: 3)."),
    _spec("--reg", type=float, help="L2 weight on the batch's embeddings (model default: the paper's)."),
    _spec("--hp", "hps", multiple=True, help="Any other model hyper-parameter NAME=VALUE."),
    _spec("--patience", default=10, show_default=True, help="Validations without improvement before stopping."),
    _spec("--min-epochs", default=0, show_default=True,
           help="No early stop before this epoch (for a validation curve that dips before it climbs)."),
    _spec("--lr-decay", type=float, help="Reduce on plateau: multiply the lr by this (e.g. 0.1) after every "
           "--lr-decay-patience validations without improvement."),
    _spec("--lr-decay-patience", default=1, show_default=True,
           help="Validations without improvement before each lr decay."),
    _spec("--lr-decay-after", "lr_decay_epochs", multiple=True, type=click.IntRange(min=1), metavar="EPOCH",
           help="With --eval-every 0: multiply the lr by --lr-decay after this epoch (repeatable), to retrain on "
                "all the data with the decays a validated run made (its metrics.jsonl logs each epoch's lr)."),
    _spec("--budget-minutes", type=float,
           help="Training time limit: stop before an epoch that could end past it (test uses the best epoch)."),
    _spec("--eval-every", default=1, show_default=True,
           help="Epochs between validations. 0: no validation: train exactly --epochs on all non-test "
                "interactions (no holdout; a valid split is folded into train), then test once, as the papers "
                "train (e.g. LightGCN's 1000 epochs)."),
    _spec("-k", "ks", multiple=True, type=int, default=(20,), show_default=True, help="Cut-offs to report."),
    _spec("--metric", help="Early-stopping metric on the valid split, e.g. ndcg@10 (default: recall@<largest k>)."),
    _spec("--threads", type=int, help="torch threads (default: torch's choice)."),
    _spec("--device", default="cpu", show_default=True,
           help="Train and evaluate on this torch device, e.g. cuda (the saved model is on the CPU either way)."),
    _spec("--nproc", default=1, show_default=True, type=click.IntRange(min=1),
           help="Data-parallel training in this many processes on this machine (gloo on CPU, one GPU each with "
                "NCCL), the same global batch and seed as one process. Under torchrun, leave it out."),
    _spec("--refit/--no-refit", default=None, help="Choose the epochs and lr cuts by early stopping on the "
           "validation holdout, then retrain on train + valid with that schedule replayed and test once (the "
           "protocol of the published numbers; the holdout run is kept in the run's holdout/ folder)."),
    _spec("--preset", help="A named recipe for --model, e.g. `--model lightgcn --preset gowalla`: its settings "
           "for every option not given here (graphrec models lists them, with what each reached)."),
)

TRAIN_OPTIONS = tuple(click.option(*decls, **attrs) for _, decls, attrs in _TRAIN_OPTION_SPECS)
TRAIN_DEFAULTS = {name: attrs.get("default", () if attrs.get("multiple") else None)
                  for name, _, attrs in _TRAIN_OPTION_SPECS}


def train_options(f):
    """Decorate a click command with TRAIN_OPTIONS (one spelling for every command that trains)."""
    for option in reversed(TRAIN_OPTIONS):
        f = option(f)
    return f


def some_train_options(*names: str, help: dict[str, str] | None = None):
    """A decorator adding the TRAIN_OPTIONS ``names`` (parameter names) to another command, the help of some
    replaced by ``help`` where it means something else there; build its TrainConfig with training_from_options
    over TRAIN_DEFAULTS."""
    specs = {name: (decls, attrs) for name, decls, attrs in _TRAIN_OPTION_SPECS}

    def decorate(f):
        for name in reversed(names):
            decls, attrs = specs[name]
            f = click.option(*decls, **{**attrs, **({"help": help[name]} if help and name in help else {})})(f)
        return f
    return decorate


@cli.command("train")
@train_options
@click.option("--search", is_flag=True, help="Closed-form models (graphrec models): choose the hyper-parameters on "
              "the validation holdout from the model's small grid, refit the best on train + valid, test once.")
@click.option("--grid", "grids", multiple=True, metavar="NAME=V1,V2",
              help="With --search: the values to try for one hyper-parameter, instead of the model's grid "
                   "(repeatable; the other hyper-parameters keep --hp or their defaults).")
@click.option("--search-users", type=click.IntRange(min=1),
              help="With --search: rank the grid on a seeded sample of this many validation users (faster).")
@click.option("--resume", "run_id", help="Resume an interrupted run from its last checkpoint.")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="Write the run back to the graph (its embeddings, a closed-form model's item–item rows) and serve it.")
@click.option("--split-seed", type=int, help="Seed of the split and the validation holdout alone (default: --seed), "
              "so that several --seed runs share one split, as multi-seed benchmark tables do.")
@_data_options
@click.pass_context
def train_cmd(ctx: click.Context, **options) -> None:
    """Export the graph, train a model with validation-based early stopping, report test, and save the run.

    With --resume RUN, the options RUN was started with are used again; give --epochs, --patience, --min-epochs,
    --budget-minutes, --threads, --device or --publish/--no-publish to change those."""
    if options["model_name"] == "auto":
        return _train_auto(ctx, options)
    if options["run_id"]:
        options = _resumed_options(ctx, options)  # a preset's settings are among those the run was started with
    elif options["preset"]:
        options = with_preset(ctx, options)
    _train(ctx, invocation={k: v for k, v in options.items() if k != "run_id"}, **options)


def training_from_options(options: dict) -> tuple[dict, TrainConfig]:
    """The model hyper-parameters and the TrainConfig that TRAIN_OPTIONS' values (and ``seed``) ask for, built and
    checked one way for every command; a setting TrainConfig refuses is a usage error naming its option."""
    from graphrec.train import TrainConfig

    hparams = dict(_parse_hparam(h) for h in options["hps"])
    hparams.update({k: options[k] for k in ("dim", "num_layers", "reg") if options[k] is not None})
    ks = tuple(sorted(set(options["ks"])))
    budget = options["budget_minutes"]
    config = _or_usage_error(lambda: TrainConfig(
        epochs=options["epochs"], batch_size=options["batch_size"], lr=options["lr"], seed=options["seed"], ks=ks,
        sampler=options["sampler"], metric=(options["metric"] or f"recall@{ks[-1]}").lower(),
        eval_every=options["eval_every"], patience=options["patience"], min_epochs=options["min_epochs"],
        threads=options["threads"], lr_decay=options["lr_decay"], lr_decay_patience=options["lr_decay_patience"],
        lr_decay_epochs=tuple(sorted(set(options["lr_decay_epochs"]))),
        budget_seconds=budget * 60 if budget is not None else None, device=options["device"],
        nproc=options["nproc"]))
    return hparams, config


def with_preset(ctx: click.Context, options: dict) -> dict:
    """``options`` with the preset's settings for every option not given on the command line (its model
    hyper-parameters go before the given ``--hp``, ``--dim``, ``--layers`` and ``--reg``, which win)."""
    from click.core import ParameterSource

    from graphrec.presets import preset

    chosen = _or_usage_error(lambda: preset(options["model_name"], options["preset"]))
    merged = dict(options)
    for name, value in {**chosen.train, **chosen.data}.items():
        if ctx.get_parameter_source(name) in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
            merged[name] = value
    merged["hps"] = tuple(f"{k}={json.dumps(v)}" for k, v in chosen.hparams.items()) + tuple(options["hps"])
    if merged["refit"] is None:
        merged["refit"] = chosen.refit
    return merged


def _or_usage_error(build):
    """``build()``, with a ConfigError about TrainConfig fields shown as one about the options that set them."""
    from graphrec.errors import ConfigError

    try:
        return build()
    except ConfigError as exc:
        from graphrec.presets import train_flag

        raise click.UsageError(re.sub(r"TrainConfig\.(\w+)", lambda m: train_flag(m.group(1)), str(exc))) from None


# What a resumed run may change; every other option must be what the run started with.
_RESUME_MAY_CHANGE = ("epochs", "patience", "min_epochs", "budget_minutes", "threads", "device", "publish", "nproc")


def _resumed_options(ctx: click.Context, options: dict) -> dict:
    """``options`` with the ones not given on this command line taken from the run being resumed; a given option
    that the run must share but does not is one clear error naming the run's value."""
    from click.core import ParameterSource

    from graphrec.workflow import saved_invocation

    saved = saved_invocation(_settings(ctx).runs_dir, options["run_id"])
    if saved is None:  # a run from before invocations were recorded: the checkpoint's own checks still apply
        return options
    merged = dict(options)
    flags = {p.name: p.opts[0] for p in train_cmd.params if isinstance(p, click.Option)}
    for name, value in saved.items():
        if name not in options:
            continue
        given = ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)
        as_saved = json.loads(json.dumps(options[name], default=list))
        if not given:
            merged[name] = tuple(value) if isinstance(options[name], tuple) else value
        elif as_saved != value and name not in _RESUME_MAY_CHANGE:
            raise click.UsageError(f"run {options['run_id']} was started with {flags.get(name, name)} "
                                   f"{value if not isinstance(value, list) else ' '.join(map(str, value))}, not "
                                   f"{options[name] if not isinstance(options[name], tuple) else ' '.join(map(str, options[name]))}; "
                                   f"leave {flags.get(name, name)} out to resume it, or train a new run")
    return merged


def _train(ctx: click.Context, model_name, epochs, batch_size, lr, sampler, dim, num_layers, reg, hps, patience,
           min_epochs, lr_decay, lr_decay_patience, lr_decay_epochs, budget_minutes, eval_every, ks, metric, threads,
           device, nproc, search, grids, search_users, refit, preset, run_id, publish, split_seed, split,
           valid_fraction, seed,
           invocation: dict) -> None:
    from graphrec.distributed import check_model, from_environment
    from graphrec.models import model_class
    from graphrec.progress import bar
    from graphrec.workflow import DataConfig, SearchConfig, train_run

    closed = model_class(model_name).closed_form
    if (search or grids or search_users) and not closed:
        raise click.UsageError(f"--search, --grid and --search-users choose a closed-form model's hyper-parameters; "
                               f"{model_name} trains by epochs, chosen by early stopping on valid (--patience)")
    if (grids or search_users) and not search:
        raise click.UsageError("--grid and --search-users go with --search")
    if refit and (closed or eval_every == 0):
        raise click.UsageError("--refit chooses a trained model's epochs by validating every --eval-every epochs; "
                               + (f"{model_name} is fitted in closed form: choose its hyper-parameters with --search"
                                  if closed else "--eval-every 0 does not validate"))
    hparams, config = training_from_options(locals())
    # A closed-form model has no epochs to validate: it fits on all non-test data, unless --search needs the holdout.
    validation = search if closed else eval_every != 0
    data_config = DataConfig(split=split, valid_fraction=valid_fraction,
                             seed=seed if split_seed is None else split_seed, validation=validation)
    searching = SearchConfig(grid=dict(_parse_grid(g) for g in grids) or None, valid_users=search_users) \
        if search else None

    group = from_environment(device)  # started by torchrun: every process runs this command, rank 0 saves and publishes
    if group is not None and nproc > 1:
        raise click.UsageError(f"torchrun started {group.world_size} processes already: leave --nproc out")
    if nproc > 1 or group is not None:
        check_model(model_class(model_name))  # before connecting and exporting
    settings = _settings(ctx)
    with _connect(ctx) as graph:
        run, result = train_run(graph, settings.runs_dir, model_name, hparams, config, data_config, run_id=run_id,
                                progress=bar, callback=_epoch_line, invocation=invocation, search=searching,
                                search_callback=_search_line, group=group, refit=bool(refit))
        if run is None:  # a torchrun process other than rank 0
            return
        if publish and model_class(model_name).not_servable:
            click.echo(f"not published: {model_class(model_name).not_servable}", err=True)
        elif publish:
            _publish(ctx, graph, run)
    if closed:
        params = ", ".join(f"{k}={v}" for k, v in run.meta["params"].items())
        chosen = f"fitted in {result.seconds_train:.1f}s ({params}" + \
            (f"; chosen on valid among {run.meta['search']['points']} points)" if search else ")")
        click.echo(f"run {run.id}: {chosen}")
    elif refit:
        schedule = run.meta["refit"]
        cuts = f", the lr cut after epoch {', '.join(map(str, schedule['lr_decay_epochs']))}" \
            if schedule["lr_decay_epochs"] else ""
        click.echo(f"run {run.id}: the holdout chose {schedule['epochs']} epochs{cuts} (of "
                   f"{schedule['holdout_epochs_run']} run, {schedule['holdout_seconds_train']:.0f}s; valid "
                   + "  ".join(f"{k} {v:.4f}" for k, v in schedule["holdout_valid"].items() if "@" in k)
                   + f"); refitted on train + valid in {result.seconds_train:.0f}s")
    else:
        chosen = f"best epoch {result.best_epoch} of {result.epochs_run}" if eval_every else \
            f"{result.epochs_run} epochs, no validation"
        click.echo(f"run {run.id}: {chosen}, {result.seconds_train:.0f}s training")
    click.echo("test  " + "  ".join(f"{k} {v:.4f}" for k, v in result.test.items() if "@" in k))
    click.echo(_split_line(run.meta))
    click.echo(f"saved in {run.path} ({'search.jsonl, ' if search else ''}"
               f"{'' if closed else 'curves.png, '}metrics.jsonl, best.pt)")


def _split_line(meta: dict) -> str:
    """The run's split and where its validation came from; a holdout carved at random beside a stored test split
    foretells the test only if that was drawn at random too (BENCHMARKS.md, the split check), so it says so."""
    counts, origin = meta["counts"], meta.get("valid_origin", "")
    line = (f"split {meta['split_origin']}: {counts['train']:,} train, {counts['valid']:,} valid, {counts['test']:,} "
            "test interactions")
    # a tune run's refit folds its validation back into train (0 valid): the note names what the search ranked on
    if origin == "the split's own" and not counts["valid"]:
        line += " (searched on the split's own valid)"
    if origin.startswith("random"):
        line += f" ({'searched on ' if not counts['valid'] else ''}valid: {origin})"
        if meta.get("split_origin") == "stored":
            line += ("\n  the stored test split was not drawn by graphrec: if it was drawn another way (each user's "
                     "newest interactions), choices made on this random holdout may not carry over to it; with "
                     "timestamps, --split temporal or --split time holds out by time instead")
    return line


def _parse_grid(text: str) -> tuple[str, list]:
    """``--grid NAME=V1,V2``: each value read as by ``--hp``."""
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise click.BadParameter(f"expected NAME=V1,V2,..., got {text!r}", param_hint="--grid")
    return name, [_parse_hparam(f"{name}={value}")[1] for value in values.split(",")]


def _search_line(trial: dict) -> None:
    """One line per searched grid point on stderr: its hyper-parameters, validation metrics and time."""
    params = ", ".join(f"{k}={v}" for k, v in trial["hparams"].items())
    metrics = "  ".join(f"{k} {v:.4f}" for k, v in trial["valid"].items() if "@" in k)
    click.echo(f"search {params}  valid {metrics}  ({trial['seconds_fit']:.1f}s fit, {trial['seconds_eval']:.1f}s "
               "valid)", err=True)


def _epoch_line(record: dict, total: int | None = None) -> None:
    """One line per epoch on stderr (graphrec.train.epoch_text)."""
    from graphrec.train import epoch_text

    click.echo(epoch_text(record, total), err=True)


def _publish(ctx: click.Context, graph, run):
    """Write a run's embeddings back onto the nodes and serve it (graphrec.publish); returns the report."""
    from graphrec.progress import bar
    from graphrec.publish import publish

    report = publish(graph, run, progress=bar)
    click.echo(f"published {report.run} to the graph ({report.users:,} users, {report.items:,} items"
               + (f", vector index {report.index}" if report.index else "") + "); it is now the served run", err=True)
    if report.item_item:
        click.echo(_item_item_line(report, run.meta.get("model", "")), err=True)
    if report.zero_users:
        click.echo(f"{report.zero_users:,} users were not written ({report.unseen_users:,} the run saw no interaction "
                   "or friend of, the rest with an all-zero embedding): the model learned nothing for them, so they "
                   "get the cold-start answer from the graph, or are told there is nothing to go on", err=True)
    return report


def _item_item_line(report, model_name: str) -> str:
    """How a closed-form run's item–item part is served (graphrec.publish)."""
    if report.item_item == "walk":
        return f"{model_name}'s item–item part is walked in the graph at query time"
    return (f"{model_name}'s item–item part: {report.similar:,} item–item relationships (each item's largest "
            "entries of its row), summed over the user's items at query time")


def _train_auto(ctx: click.Context, options: dict) -> None:
    """``graphrec train --model auto``: the model chosen by ``graphrec tune --model auto`` within --budget-minutes."""
    from click.core import ParameterSource

    if options["budget_minutes"] is None:
        raise click.UsageError("--model auto chooses the model on the holdout within --budget-minutes: give one "
                               "(or run `graphrec tune --model auto --trials N`)")
    shared = ("budget_minutes", "batch_size", "epochs", "patience", "ks", "metric", "threads", "device", "publish",
              "split", "valid_fraction", "seed")
    given = [name for name in options if name not in shared and name != "model_name"
             and ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)]
    if given:
        raise click.UsageError(f"--model auto searches each model's settings itself; leave out "
                               f"{', '.join('--' + n.replace('_', '-') for n in given)} (see `graphrec tune --help`)")
    ctx.invoke(tune_cmd, model_name="auto", **{name: options[name] for name in shared})


@cli.command("tune")
@click.option("--model", "model_name", default="auto", show_default=True,
              help="The model to search (see `graphrec models`), or auto: the baselines and graph filters, then the "
                   "trained models the graph can feed; the best on the holdout is served.")
@click.option("--budget-minutes", type=float, help="Wall-clock limit for the whole command: export, trials, refit, "
              "test and publish. Without it, --trials bounds the search.")
@click.option("--trials", "max_trials", type=click.IntRange(min=1), help="At most this many trials per model.")
@click.option("--trial-minutes", type=float, help="The most one trained trial may take (default: a share of the "
              "budget: a quarter for one model, 1/(trained candidates + 2) with auto, at most a sixth).")
@click.option("--valid-users", type=click.IntRange(min=0), default=5_000, show_default=True,
              help="Every trial ranks the same seeded sample of this many validation users (0: all of them).")
@click.option("--holdouts", type=click.IntRange(min=1), help="The best closed-form points on the holdout are ranked "
              "again on more random holdouts (train and valid pooled, drawn again), this many in all, and the one "
              "best on the mean of those re-checks is the closed-form choice. Default: 3 where the holdout was drawn "
              "at random, else 1 (one holdout decides).")
@click.option("--holdout", type=click.Choice(["auto", "stored", "random"]), default="auto", show_default=True,
              help="Where the graph stores a valid split: search on it (stored), or pool it into train and draw "
                   "--valid-fraction of each user's interactions at random (random). auto: the stored one, unless it "
                   "holds fewer than half the interactions a random holdout would (too few to tell models apart).")
@click.option("--models", "models", help="With --model auto: the trained models to consider, comma-separated "
              "(default: all that fit the graph).")
@click.option("--resume", "study", metavar="SEARCH", help="Continue the search SEARCH (its folder under the runs "
              "folder, printed when it starts), e.g. after it was killed or to spend more budget on it.")
@some_train_options("batch_size", "epochs", "patience", "ks", "metric", "threads", "device", help={
    "epochs": "Upper bound per trial (early stopping, the pruner and the trial's time share end most sooner).",
    "patience": "Validations without improvement before a trial stops.",
    "metric": "The holdout metric searched, e.g. ndcg@20 (default: recall@<largest k>).",
    "device": "Where trained trials run, e.g. cuda."})
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="Write the winner back to the graph (as graphrec publish) and serve it.")
@_data_options
@click.pass_context
def tune_cmd(ctx: click.Context, model_name, budget_minutes, max_trials, trial_minutes, valid_users, holdouts, holdout,
             models, study, batch_size, epochs, patience, ks, metric, threads, device, publish, split, valid_fraction,
             seed) -> None:
    """Search hyper-parameters (and with --model auto the model) on the validation holdout within a budget, refit
    the best on train + valid, test it once and save it as a run.

    Every trial is kept in the search's folder (study.db, trials.jsonl, trials.svg) and copied into the run's; a
    killed search continues with --resume SEARCH."""
    import time

    from graphrec.progress import bar
    from graphrec.trials import setting_text
    from graphrec.tune import TuneConfig, tune_run
    from graphrec.workflow import DataConfig

    since = time.monotonic()  # the budget is the whole command's, starting the graph server included
    if budget_minutes is None and max_trials is None:
        raise click.UsageError("give --budget-minutes (wall clock for the whole command) or --trials (per model)")
    if models and model_name != "auto":
        raise click.UsageError("--models lists auto's candidates: it goes with --model auto")
    _, config = training_from_options({**TRAIN_DEFAULTS, "epochs": epochs, "batch_size": batch_size, "seed": seed,
                                       "ks": ks, "patience": patience, "metric": metric, "threads": threads,
                                       "device": device})
    try:
        tune = TuneConfig(budget_seconds=budget_minutes * 60 if budget_minutes is not None else None,
                          trial_seconds=trial_minutes * 60 if trial_minutes is not None else None,
                          max_trials=max_trials, valid_users=valid_users or None, holdouts=holdouts,
                          holdout=holdout)
    except GraphrecError as exc:
        raise click.UsageError(str(exc)) from None
    data_config = DataConfig(split=split, valid_fraction=valid_fraction, seed=seed)
    settings = _settings(ctx)
    with _connect(ctx) as graph:
        out = tune_run(graph, settings.runs_dir, model_name, config, data_config, tune, study=study,
                       models=models.split(",") if models else None, progress=bar,
                       log=lambda line: click.echo(line, err=True), callback=_epoch_line,
                       started=lambda name, folder: click.echo(f"search {name} (trials in {folder}; continue it "
                                                               f"with --resume {name})", err=True), since=since,
                       publish=(lambda run: _publish(ctx, graph, run)) if publish else None)
        run, outcome = out.run, out.outcome
        click.echo(_trials_table(outcome.rows, config.metric))
        if outcome.rechecks:
            click.echo(_rechecks_table(outcome.rows, outcome.rechecks, config.metric))
        for name, why in outcome.skipped.items():
            click.echo(f"skipped {name}: {why}")
        if outcome.not_reached:
            click.echo(f"not reached within the budget: {', '.join(outcome.not_reached)}")
    winner = run.meta["tune"]["chosen"]
    params = setting_text(winner["params"])
    rechecked = f" (mean of {winner['rechecked_holdouts']} re-check holdouts {winner['rechecks_mean']:.4f})" \
        if winner.get("rechecks_mean") is not None else ""
    click.echo(f"chosen on the holdout: {winner['model']} ({params or 'no hyper-parameters'}), valid "
               f"{config.metric} {run.meta['metrics']['valid'][config.metric]:.4f}{rechecked}")
    budget = f" of a {budget_minutes:g}-minute budget" if budget_minutes is not None else ""
    click.echo(f"run {run.id}: refitted on train + valid, tested once{', published' if publish else ''}; "
               f"{out.seconds / 60:.1f} minutes in all{budget}")
    click.echo("test  " + "  ".join(f"{k} {v:.4f}" for k, v in out.result.test.items() if "@" in k))
    click.echo(_split_line(run.meta))
    click.echo(f"saved in {run.path} (trials.jsonl, trials.svg); the search in {out.folder}")


def _trials_table(rows: list[dict], metric: str) -> str:
    """The trials as a text table, in the order they ran."""
    from graphrec.trials import setting_text

    lines = [f"{'model':<11} {'#':>3} {'state':<8} {'valid ' + metric:>16} {'epochs':>7} {'seconds':>8}  setting"]
    for r in rows:
        value = "-" if r["value"] is None else f"{r['value']:.4f}"
        epochs = f"{r.get('best_epoch', 0)}/{r.get('epochs', 0)}" if r.get("epochs") else "-"
        setting = setting_text(r["params"])
        lines.append(f"{r['model']:<11} {r['number']:>3} {r['state']:<8} {value:>16} {epochs:>7} "
                     f"{r.get('seconds', 0.0):>8.1f}  {setting}")
    return "\n".join(lines)


def _rechecks_table(rows: list[dict], rechecks: list[dict], metric: str) -> str:
    """The closed-form leaders' valid ``metric`` on each holdout they were ranked on, and the re-checks' mean that
    chose (the first holdout chose the leaders: it is left out of the mean)."""
    from graphrec.trials import setting_text
    from graphrec.choice import holdout_means, point_key

    done = [r for r in rows if r["state"] == "complete" and r["value"] is not None]
    means, count = holdout_means(done, rechecks)
    folds = sorted({r["holdout"] for r in rechecks})
    lines = [f"closed-form leaders re-checked on {len(folds)} more holdouts (valid {metric}; the mean is over the "
             f"{count} re-check holdouts all of them have):",
             f"{'model':<11} " + " ".join(f"{'holdout ' + str(h + 1):>10}" for h in [0, *folds]) +
             f" {'mean':>8}  setting"]
    for r in sorted(done, key=lambda r: -r["value"]):
        point = point_key(r)
        values = {c["holdout"]: c["value"] for c in rechecks if point_key(c) == point}
        if not values:
            continue
        cells = [f"{r['value']:>10.4f}"] + [f"{values[h]:>10.4f}" if h in values else f"{'-':>10}" for h in folds]
        mean = f"{means[point]:>8.4f}" if point in means else f"{'-':>8}"
        setting = setting_text(r["params"])
        lines.append(f"{r['model']:<11} {' '.join(cells)} {mean}  {setting}")
    return "\n".join(lines)


@cli.command("evaluate")
@click.argument("run_id", default="latest")
@click.option("--split", type=click.Choice(["valid", "test"]), default="test", show_default=True)
@click.option("-k", "ks", multiple=True, type=int, default=(10, 20), show_default=True)
@click.option("--served", is_flag=True, help="Evaluate the published run through the served Cypher path (one exact "
              "query per test user), beside the same metrics in memory for the same users (test, largest -k).")
@click.option("--max-users", type=int, help="With --served: only the first this many test users.")
@click.option("--against", "other", metavar="RUN", help="Compare with RUN on the same users, paired: Recall@K and "
              "NDCG@K (largest -k) of each, their difference and its 95% bootstrap interval over the users.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def evaluate_cmd(ctx: click.Context, run_id: str, split: str, ks: tuple[int, ...], served: bool,
                 max_users: int | None, other: str | None, as_json: bool) -> None:
    """Full-ranking evaluation of a saved run (default: the latest) on the graph's current data."""
    from graphrec.progress import bar
    from graphrec.workflow import compare_runs, evaluate_run, evaluate_served

    if other and served:
        raise click.UsageError("--against compares two runs in memory; leave out --served")
    with _connect(ctx) as graph:
        if other:
            result = compare_runs(graph, _settings(ctx).runs_dir, run_id, other, split, max(ks), progress=bar)
            if as_json:
                _echo_json(result)
                return
            click.echo(f"A {result['a']} against B {result['b']}: {result['users']:,} {split} users, paired "
                       f"(95% interval of A - B over {result['draws']:,} redraws of the users)")
            for metric, row in result["paired"].items():
                click.echo(f"{metric:10} A {row['a']:.4f}  B {row['b']:.4f}  A - B {row['diff']:+.4f}  "
                           f"[{row['low']:+.4f}, {row['high']:+.4f}]  {row['verdict']}")
            return
        if served:
            run = _load_run(ctx, run_id)
            result = evaluate_served(graph, _settings(ctx).runs_dir, run.id, k=max(ks), max_users=max_users,
                                     progress=bar)
            if as_json:
                _echo_json(result)
                return
            click.echo(f"{result['users']:,} test users, top {max(ks)}:  served Cypher path | in memory")
            for key, value in result["served"].items():
                click.echo(f"{key:14} {value:.4f} | {result['offline'][key]:.4f}")
            return
        metrics = evaluate_run(graph, _settings(ctx).runs_dir, run_id, split=split, ks=ks, progress=bar)
    if as_json:
        _echo_json(metrics)
        return
    for key, value in metrics.items():
        click.echo(f"{key:14} {value:.4f}" if isinstance(value, float) else f"{key:14} {value}")


@cli.command("models")
def models_cmd() -> None:
    """List the registered models, their hyper-parameters (with defaults) and their presets (--preset)."""
    import inspect

    from graphrec.models import MODELS, hparam_names
    from graphrec.presets import presets_of

    for name, cls in sorted(MODELS.items()):
        sig = inspect.signature(cls.__init__).parameters
        hp = ", ".join(f"{p}={sig[p].default}" for p in hparam_names(cls))
        doc = (cls.__dict__.get("__doc__") or inspect.getmodule(cls).__doc__ or "").strip().splitlines()[0]
        click.echo(f"{name:10} {doc}\n{'':10} {hp}")
        for recipe in presets_of(name):
            click.echo(f"{'':10} preset: " + recipe.describe().replace("\n", f"\n{'':10} "))


# ---- the main job ---------------------------------------------------------------------------------------------------------
@cli.command("sample")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--seed", default=7, show_default=True)
@click.option("--users", "n_users", type=click.IntRange(min=1),
              help="Users (default 800; with --interactions, interactions // 25).")
@click.option("--items", "n_items", type=click.IntRange(min=1),
              help="Items (default 600; with --interactions, interactions // 50).")
@click.option("--interactions", type=click.IntRange(min=1), help="Instead of the small sample graph, a power-law "
              "graph of exactly this many interactions (10^5 to 10^7 and beyond) with a stored train/test split, a "
              "KG and follows, written a block of users at a time (graphrec.sample.write_power_law).")
def sample_cmd(folder: str, seed: int, n_users: int | None, n_items: int | None, interactions: int | None) -> None:
    """Write the generated sample graph (users, items, KG, friendships) as CSV files into FOLDER."""
    from graphrec.sample import write_power_law, write_sample

    if interactions is not None:
        out = write_power_law(folder, interactions, users=n_users, items=n_items, seed=seed)
    else:
        out = write_sample(folder, seed=seed, n_users=n_users or 800, n_items=n_items or 600)
    click.echo(f"wrote the sample graph to {out}; ingest it with: graphrec ingest csv {out}")


@cli.command("demo")
@click.option("--data", type=click.Path(), help="A dataset folder to use instead of the generated sample graph; the "
              "demo then runs on a graph of its own, <home>/demos/<dataset> (see --here).")
@click.option("--format", "format_name", default="csv", show_default=True, help="The loader for --data.")
@click.option("--model", "model_name", default="lightgcn", show_default=True)
@click.option("--epochs", default=60, show_default=True)
@click.option("--seed", default=7, show_default=True, help="Seed of the sample graph and of training.")
@click.option("--here", is_flag=True, help="With --data: use the configured graph instead of one of its own (an "
              "ingest still refuses to mix it with another dataset already there).")
@click.pass_context
def demo_cmd(ctx: click.Context, data: str | None, format_name: str, model_name: str, epochs: int, seed: int,
             here: bool) -> None:
    """The main job end to end on the configured graph (the embedded Neo4j by default): sample graph (or --data)
    -> ingest -> train with early stopping -> write back -> recommend with Cypher."""
    import loaders
    from graphrec.db.connect import connect
    from graphrec.ingest import ingest
    from graphrec.progress import bar
    from graphrec.sample import write_sample
    from graphrec.stats import graph_stats
    from graphrec.train import TrainConfig
    from graphrec.workflow import DataConfig, train_run

    settings = _settings(ctx)
    if not settings.mapping.is_default:
        raise click.UsageError("demo ingests a dataset in graphrec's own schema, and a mapping is configured; run it "
                               "without the mapping (another --home or config), or train on your graph directly")
    own = data is not None and not here and settings.embedded
    if data is None:
        data = str(write_sample(settings.home / "sample", seed=seed))
        format_name = "csv"
        click.echo(f"[1/5] generated the sample graph in {data} (seed {seed})")
    else:
        click.echo(f"[1/5] using {data} ({format_name})")
    dataset = loaders.load(format_name, data)
    if own:  # its numbers must describe this dataset alone, whatever the configured graph holds
        settings = load_settings(home=str(settings.home / "demos" / _slug(dataset.key)))
        click.echo(f"      on a graph of its own: the embedded Neo4j in {settings.home} (starting it ...)", err=True)
    with connect(settings) as graph:
        report = ingest(graph, dataset, progress=bar)
        stats = graph_stats(graph)
        click.echo(f"[2/5] ingested into {graph.uri}: created {report.created}; the graph holds {stats['nodes']} "
                   f"and {stats['relationships']}")
        config = TrainConfig(epochs=epochs, batch_size=1024, lr=5e-3, seed=seed, eval_every=5, patience=3)
        click.echo(f"[3/5] training {model_name}: at most {epochs} epochs, validated every 5, stopping after 3 "
                   "validations without improvement")
        run, result = train_run(graph, settings.runs_dir, model_name, {}, config, DataConfig(seed=seed),
                                progress=bar, callback=lambda record: _epoch_line(record, epochs))
        click.echo(f"[3/5] trained {model_name}: best epoch {result.best_epoch} of {result.epochs_run}; test "
                   + "  ".join(f"{k} {v:.4f}" for k, v in result.test.items() if k in ("recall@20", "ndcg@20"))
                   + f"; run {run.id} in {run.path}")
        _publish(ctx, graph, run)
        _demo_recommend(ctx, graph, run, f"graphrec --home {settings.home} " if own else "graphrec ")
    if own:
        click.echo(f"this graph's Neo4j keeps running; stop it with `graphrec --home {settings.home} db stop`")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text)


def _demo_recommend(ctx: click.Context, graph, run, command: str = "graphrec ") -> None:
    """Steps 4 and 5 of the demo: what was written back, and recommendations served by Cypher with explanations."""
    from graphrec import recommend as rec
    from graphrec.publish import serving

    served = serving(graph)
    click.echo(f"[4/5] wrote the embeddings back; (:ModelRun {{id: '{served['id']}'}}) is served")
    user = run.ids().ids["user"][0]
    rows = rec.recommend(graph, user, 5, path="index")
    why = rec.explain(graph, user, [r["item"] for r in rows])
    click.echo(f"[5/5] top 5 for user {user}, from the graph's vector index (cypher/recommend.cypher):")
    _print_rows(rows, why)
    click.echo(f"next: {command}recommend --user {user} --explain   |   {command}similar --item {rows[0]['item']}"
               f"   |   {command}cypher 'MATCH (r:ModelRun) RETURN r.id, r.model, r.serving'")


def _load_run(ctx: click.Context, run_ref: str):
    """A run by id (or ``latest``) under <home>/runs, or a run folder given by path."""
    from graphrec.runs import Run, load_run

    path = Path(run_ref)
    if (path / "run.json").is_file():
        return Run(path, json.loads((path / "run.json").read_text()))
    return load_run(_settings(ctx).runs_dir, run_ref)


@cli.command("publish")
@click.argument("run_ref", metavar="RUN")
@click.option("--serve/--no-serve", default=True, show_default=True, help="Serve the run once it is written.")
@click.option("--batch-size", default=5_000, show_default=True, help="Nodes per write transaction.")
@click.option("--similar", default=100, show_default=True, type=click.IntRange(min=0),
              help="Closed-form models (graph filters, ItemKNN, EASE^R, LinkProp): each item's largest entries of "
                   "its item–item row written as relationships, summed at query time (0: none, for a model whose "
                   "item–item part is a walk, e.g. GF-CF: recommend then walks every path at query time).")
@click.option("--fold-in", "fold", is_flag=True, help="Only embed the users and items that joined the graph since "
              "RUN was trained (from their interactions, no retraining) and write them; RUN must be published.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def publish_cmd(ctx: click.Context, run_ref: str, serve: bool, batch_size: int, similar: int, fold: bool,
                as_json: bool) -> None:
    """Write RUN's embeddings onto the graph's nodes with its (:ModelRun) node and vector index, then serve it.

    RUN is a run id under <home>/runs, `latest`, or a run folder.
    """
    from graphrec.progress import bar
    from graphrec.publish import publish

    run = _load_run(ctx, run_ref)
    with _connect(ctx) as graph:
        if fold:
            from graphrec.foldin import fold_in

            folded = fold_in(graph, run, batch_size=batch_size, progress=bar)
            if as_json:
                _echo_json(folded.__dict__)
            else:
                click.echo(f"folded into {folded.run}: {folded.users:,} users, {folded.items:,} items in "
                           f"{folded.seconds:.1f} s" + (f"; no neighbour in the run, left to cold start: "
                                                        f"{folded.skipped}" if any(folded.skipped.values()) else ""))
            return
        report = publish(graph, run, serve=serve, batch_size=batch_size, similar=similar, progress=bar)
    if as_json:
        _echo_json(report.__dict__)
        return
    click.echo(f"published {report.run}: {report.users:,} users, {report.items:,} items"
               + (f", index {report.index}" if report.index else "")
               + ("; now serving it" if report.serving else "; not served (graphrec runs switch)"))
    if report.item_item:
        click.echo(_item_item_line(report, run.meta.get("model", "")))
    if any(report.missing.values()):
        click.echo(f"not in the graph (skipped): {report.missing}", err=True)


@cli.group("runs")
def runs_group() -> None:
    """The runs published in the graph, and which one is served."""


@runs_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs_list(ctx: click.Context, as_json: bool) -> None:
    """List the published runs, oldest first; * marks the one served."""
    from graphrec.publish import published_runs

    with _connect(ctx) as graph:
        runs = published_runs(graph)
    if as_json:
        _echo_json(runs)
        return
    if not runs:
        click.echo("no published runs: graphrec publish RUN")
    for r in runs:
        click.echo(f"{'*' if r['serving'] else ' '} {r['id']}  {r['model'] or '-'}  {r['status']}  "
                   f"published {(r['published_at'] or '-')[:19]}  {_metrics_text(r['metrics'])}")


def _metrics_text(metrics: dict) -> str:
    """``{"valid": {...}, "test": {...}}`` as ``valid ndcg@20 0.1712 recall@20 0.2012  test ...``: the headline
    metrics (`graphrec evaluate RUN` and `runs list --json` give them all)."""
    parts = []
    for split in ("valid", "test"):
        shown = {k: v for k, v in (metrics.get(split) or {}).items()
                 if k.startswith(("recall@", "ndcg@")) and isinstance(v, (int, float))}
        if shown:
            parts.append(split + " " + " ".join(f"{k} {v:.4f}" for k, v in sorted(shown.items())))
    return "  ".join(parts) or "(no metrics)"


@runs_group.command("switch")
@click.argument("run_id", metavar="RUN")
@click.pass_context
def runs_switch(ctx: click.Context, run_id: str) -> None:
    """Serve RUN (already published) from now on; atomic for concurrent queries. Works for older runs too. RUN may be
    ``latest``: the run published most recently."""
    from graphrec.publish import published_runs, switch

    with _connect(ctx) as graph:
        if run_id == "latest":
            ready = [r for r in published_runs(graph) if r["status"] == "ready"]
            if not ready:
                raise click.UsageError("no run is published in this graph yet: graphrec publish RUN")
            run_id = max(ready, key=lambda r: (r["published_at"] or "", r["id"]))["id"]
        switch(graph, run_id)
    click.echo(f"now serving {run_id}")


@runs_group.command("drop")
@click.argument("run_id", metavar="RUN")
@click.pass_context
def runs_drop(ctx: click.Context, run_id: str) -> None:
    """Remove a run that is not served: its node properties, vector index and (:ModelRun) node."""
    from graphrec.publish import drop

    with _connect(ctx) as graph:
        drop(graph, run_id)
    click.echo(f"dropped {run_id}")


def _print_rows(rows: list[dict], why: dict | None) -> None:
    for rank, row in enumerate(rows, 1):
        name = f"  {row['name']}" if row.get("name") else ""
        click.echo(f"{rank:3}  {row['item']}{name}\t{row['score']:.4f}")
        for path in (why or {}).get(row["item"], {}).get("via_kg", []):
            click.echo(f"       you liked {path.get('liked_name') or path['liked']}, also {path['relation']} {path['name'] or path['entity']}")
        for friend in (why or {}).get(row["item"], {}).get("via_friends", []):
            click.echo(f"       your friend {friend} interacted with it")
        for path in row.get("via_attention", []):
            click.echo(f"       attention {path['score']:.3g}: {path['path']}")


def _attention_explain(ctx: click.Context, run_id: str, user: str, items: list[str]) -> dict:
    """The served run's attention paths (KGAT runs), or {} with a note when its run folder is not here."""
    from graphrec import recommend as rec
    from graphrec.errors import NotFoundError

    try:
        return rec.attention_explain(_settings(ctx).runs_dir, run_id, user, items)
    except NotFoundError as exc:
        click.echo(f"note: no model-based explanations: {exc}", err=True)
        return {}


@cli.command("recommend")
@click.option("--user", required=True, help="The user's business id.")
@click.option("-k", "k", default=10, show_default=True, help="How many items.")
@click.option("--filter", "entities", multiple=True, metavar="ENTITY",
              help="Only items linked to this KG entity (id or name, e.g. a genre); repeat for several (all must hold).")
@click.option("--exclude", multiple=True, metavar="ITEM", help="An item id never to recommend; repeatable.")
@click.option("--exact", is_flag=True, help="Score every item (exact) instead of the vector index path.")
@click.option("--fetch", type=int, help="Index path: candidates taken from the index (default max(100, 5k): ~96% of the exact top-20 on "
                   "Gowalla, BENCHMARKS.md).")
@click.option("--run", "run_id", help="A published run to use instead of the one served.")
@click.option("--explain", is_flag=True, help="Show the graph paths from the user to each item.")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@click.pass_context
def recommend_cmd(ctx: click.Context, user: str, k: int, entities: tuple[str, ...], exclude: tuple[str, ...],
                  exact: bool, fetch: int | None, run_id: str | None, explain: bool, as_json: bool) -> None:
    """Top-k items for a user, from the Cypher queries in cypher/recommend.cypher (items seen are excluded)."""
    from graphrec import recommend as rec

    with _connect(ctx) as graph:
        rows = rec.recommend(graph, user, k, path="exact" if exact else "index", fetch=fetch, run=run_id,
                             entities=entities or None, exclude=exclude or None)
        why = rec.explain(graph, user, [r["item"] for r in rows]) if explain else None
    if why is not None:
        attention = _attention_explain(ctx, rows[0]["run"], user, [r["item"] for r in rows])
        for row in rows:
            row.update(why.get(row["item"], {"via_kg": [], "via_friends": []}))
            row["via_attention"] = attention.get(row["item"], [])
    if as_json:
        _echo_json(rows)
        return
    if "basis" in rows[0]:
        click.echo(f"cold start: user {user} has no embedding in run {rows[0]['run']}; built from "
                   f"{rows[0]['neighbours']} {rows[0]['basis']}", err=True)
    _print_rows(rows, why)
    click.echo(f"(run {rows[0]['run']}, {'exact' if exact else 'index'} path)", err=True)


@cli.command("similar")
@click.option("--item", required=True, help="The item's business id.")
@click.option("-k", "k", default=10, show_default=True)
@click.option("--run", "run_id", help="A published run to use instead of the one served.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def similar_cmd(ctx: click.Context, item: str, k: int, run_id: str | None, as_json: bool) -> None:
    """The items most similar to ITEM (cosine of the served run's item embeddings), from recommend.similar_items."""
    from graphrec import recommend as rec

    with _connect(ctx) as graph:
        rows = rec.similar(graph, item, k, run=run_id)
    if as_json:
        _echo_json(rows)
        return
    if "basis" in rows[0]:
        click.echo(f"cold start: item {item} has no embedding; built from {rows[0]['neighbours']} {rows[0]['basis']}",
                   err=True)
    _print_rows(rows, None)


# ---- Neo4j Browser -----------------------------------------------------------------------------------------------------
@cli.command("browser")
@click.option("--port", default=0, type=click.IntRange(0, 65535), show_default=True,
              help="Port of the guide server on 127.0.0.1 (0: a free one).")
@click.option("--origin", "origins", multiple=True, metavar="URL",
              help="Browser's origin when Browser comes from a Neo4j of your own (e.g. http://localhost:7474); "
                   "repeatable. Default: the embedded server's.")
@click.pass_context
def browser_cmd(ctx: click.Context, port: int, origins: tuple[str, ...]) -> None:
    """Serve the graphrec guide, style sheet and favourites to Neo4j Browser, until Ctrl-C.

    Starts the embedded server if needed and prints how to open Browser, log in, and play the guide.
    """
    from graphrec.browser import GuideServer, browser_dir, browser_origins

    settings = _settings(ctx)
    lines = []
    if settings.embedded:
        server = _server(ctx)
        if not server.status().running:
            click.echo(f"starting the embedded graph server in {server.home} ...", err=True)
        status = server.start()
        origins = origins or (status.http_url,)
        lines += [f"Neo4j Browser  {status.browser_url}",
                  f"connect URL    {status.uri}",
                  f"user           {status.user}",
                  f"password       in {status.password_file}"]
    elif not origins:
        raise click.UsageError("with a Neo4j of your own (NEO4J_URI), give the URL Browser is opened from: "
                               "--origin http://localhost:7474")
    origins = tuple(dict.fromkeys(o for origin in origins for o in browser_origins(origin)))
    folder = browser_dir()
    if not settings.mapping.is_default:  # a guide in the graph's own labels, with ids from it
        from graphrec.guide import write

        with _connect(ctx) as graph:
            mapping = graph.mapping
            users = graph.read("export.node_ids", {"label": mapping.user_label, "key": mapping.user_id})[:1]
            items = graph.read("export.node_ids", {"label": mapping.item_label, "key": mapping.item_id})[:2]
        if not users or not items:
            raise GraphrecError(f"the graph has no :{mapping.user_label} or no :{mapping.item_label} nodes")
        ids = {"user": users[0]["id"], "item": items[0]["id"], "items": [r["id"] for r in items]}
        folder = write(settings.home / "browser", mapping, ids)
    # The embedded server allows guides from http://127.0.0.1; another Neo4j, by default, from localhost.
    guide = GuideServer(origins, port=port, folder=folder,
                        log=lambda line: click.echo(f"guide server: {line}", err=True),
                        url_host="127.0.0.1" if settings.embedded else "localhost")
    lines += [f"guide          {guide.play_command}",
              f"style          {guide.style_command}",
              f"favourites     drop each file of {folder / 'favorites'} onto Browser, 'Save to favorites'"]
    click.echo("\n".join(lines))
    click.echo(f"serving {guide.folder} at {guide.url} to {', '.join(origins)}; Ctrl-C stops", err=True)
    try:
        guide.serve_forever()
    except KeyboardInterrupt:
        click.echo("guide server stopped", err=True)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except GraphrecError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
