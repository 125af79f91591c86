"""Loading a whole campaign: every post file read, every post checked, every problem reported.

`validate`, `plan`, `run` and `rehearse` all load posts through `load_campaign`, so the daemon
refuses exactly what `validate` reports. One bad file never hides the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.campaign.checking import Context
from bot.campaign.folder import Listing, list_folder
from bot.campaign.mistakes import check_likely_mistakes
from bot.campaign.modelerrors import problems_from_validation
from bot.campaign.rules import PostChecker
from bot.campaign.schema import Defaults, Post, PostFile
from bot.campaign.yamlsource import Position, YamlDocument, read_yaml
from bot.core.limits import InstanceLimits
from bot.core.posts import CampaignPost, ScheduleKind
from bot.core.problems import Problem, Severity
from bot.core.states import State
from bot.core.timespec import to_zone
from bot.schedule.slots import Slot


class CampaignSettings(Protocol):
    """What loading a campaign needs from the operator's settings."""

    @property
    def posts_dir(self) -> Path: ...
    @property
    def zone(self) -> ZoneInfo: ...
    @property
    def defaults(self) -> Defaults: ...
    @property
    def require_alt_text(self) -> bool: ...
    @property
    def slots(self) -> tuple[Slot, ...]: ...
    @property
    def default_account(self) -> str: ...
    def account_names(self) -> list[str]: ...


@dataclass
class Campaign:
    posts: list[CampaignPost] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    # (id, file, line) of every post entry written with an id, valid or not.
    declared: list[tuple[str, str, int]] = field(default_factory=list)
    # The warnings about posts whose time has passed (also in `problems`).
    overdue: list[Problem] = field(default_factory=list)

    @property
    def held_back(self) -> list[str]:
        """Ids written in the files whose posts are left out by an error (in file order)."""
        valid = {post.id for post in self.posts}
        seen: dict[str, None] = {}
        for post_id, _, _ in self.declared:
            if post_id not in valid:
                seen.setdefault(post_id)
        return list(seen)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]

    def by_id(self) -> dict[str, CampaignPost]:
        return {post.id: post for post in self.posts}


def discover(posts_dir: Path) -> list[Path]:
    """Every post file under the folder, in a stable order, hidden folders left out."""
    return list(list_folder(posts_dir).post_files)


def display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def load_campaign(
    settings: CampaignSettings,
    limits: InstanceLimits,
    *,
    account_limits: Mapping[str, InstanceLimits] | None = None,
    paths: Sequence[Path] | None = None,
    published: Mapping[str, State] | None = None,
    now: datetime | None = None,
    listing: Listing | None = None,
) -> Campaign:
    """Read and check post files (all of `posts_dir` unless `paths` is given), each post
    against `account_limits` of the account that publishes it (`limits` for any other).

    `published` maps occurrence keys to ledger states and `now` is the current time; with both,
    one-off posts already in the past are reported as warnings. A `listing` of `posts_dir` just
    made (by the running bot's folder watch) is read instead of listing the folder again.
    """
    campaign = Campaign()
    if paths:
        files = _expand(paths)
    else:
        files = list((listing or list_folder(settings.posts_dir)).post_files)
    if not files:
        campaign.problems.append(
            Problem(
                display_name(settings.posts_dir),
                0,
                0,
                "",
                "no post files found",
                "add `.yaml` files with a `posts:` list to the posts folder",
            )
        )
    ctx = Context(
        limits=limits,
        posts_dir=settings.posts_dir,
        zone=settings.zone,
        defaults=settings.defaults,
        require_alt_text=settings.require_alt_text,
        accounts=tuple(settings.account_names()),
        default_account=settings.default_account,
        account_limits=dict(account_limits or {}),
    )
    first_seen: dict[str, tuple[str, int]] = {}
    order = 0
    for path in files:
        campaign.files.append(path)
        posts, problems, declared = _load_file(path, ctx, order)
        order += len(posts) + 1
        campaign.problems.extend(problems)
        campaign.declared.extend(declared)
        # Every id written counts, valid post or not: a second copy is reported (and left out)
        # even while the first one is invalid.
        twice: set[tuple[str, int]] = set()
        for post_id, file, line in declared:
            first = first_seen.setdefault(post_id, (file, line))
            if first == (file, line):
                continue
            twice.add((file, line))
            campaign.problems.append(
                Problem(
                    file,
                    line,
                    1,
                    "id",
                    f"id {post_id!r} is used twice (also at {first[0]}:{first[1]})",
                    "give each post its own id; ids must be unique across the campaign",
                )
            )
        campaign.posts.extend(p for p in posts if (p.file, p.line) not in twice)
    _check_schedule(campaign, settings, published, now)
    return campaign


def _expand(paths: Sequence[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out.extend(discover(path) if path.is_dir() else [path])
    return out


Declared = list[tuple[str, str, int]]  # (id, file, line) of every post entry with a text id


def _load_file(
    path: Path, ctx: Context, order: int
) -> tuple[list[CampaignPost], list[Problem], Declared]:
    display = display_name(path)
    doc, problems = read_yaml(path, display_name=display)
    if doc is None:
        return [], problems, []
    declared = _declared_ids(doc, display)
    posts, more = _check_document(doc, display, ctx, order)
    if problems:
        # The reader's problems (a duplicate key, a tag) make the file's meaning uncertain: none
        # of its posts goes out, but everything else wrong with it is reported in the same run,
        # except what only follows from those problems (a refused tag leaves an odd value).
        places = [p.where for p in problems if p.where]
        return [], problems + [m for m in more if not _inside(m.where, places)], declared
    return posts, more, declared


def _declared_ids(doc: YamlDocument, display: str) -> Declared:
    data = doc.data
    items = data.get("posts") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [
        (item["id"], display, doc.position(("posts", index)).line)
        for index, item in enumerate(items)
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    ]


def _inside(where: str, places: list[str]) -> bool:
    return any(where == p or where.startswith((p + ".", p + "[")) for p in places)


def _check_document(
    doc: YamlDocument, display: str, ctx: Context, order: int
) -> tuple[list[CampaignPost], list[Problem]]:
    data = doc.data
    if data is None:
        return [], [
            Problem(
                display,
                0,
                0,
                "",
                "the file is empty",
                "add a `posts:` list, or delete the file",
                Severity.WARNING,
            )
        ]
    if not isinstance(data, dict):
        return [], [
            Problem(
                display,
                1,
                1,
                "",
                "a post file must be a mapping with a `posts:` list",
                "start the file with `posts:` and list the posts under it",
            )
        ]
    if "posts" in data and data["posts"] is None:
        data = {**data, "posts": []}  # `posts:` with nothing under it is an empty list
    try:
        shell = PostFile.model_validate(data)
    except ValidationError as exc:
        return [], problems_from_validation(exc, PostFile, doc, display)
    if not shell.posts:
        pos = doc.key_position(("posts",))
        return [], [
            Problem(
                display,
                pos.line,
                pos.column,
                "posts",
                "the `posts:` list is empty",
                "add posts, or delete the file",
                Severity.WARNING,
            )
        ]
    return _load_posts(doc, display, shell.defaults, shell.posts, ctx, order)


def _load_posts(
    doc: YamlDocument,
    display: str,
    defaults: Defaults | None,
    items: list[object],
    ctx: Context,
    order: int,
) -> tuple[list[CampaignPost], list[Problem]]:
    posts: list[CampaignPost] = []
    problems: list[Problem] = []

    def locate(where: tuple[str | int, ...]) -> tuple[int, int]:
        pos = doc.position(where)
        return pos.line, pos.column

    for index, item in enumerate(items):
        prefix: tuple[str | int, ...] = ("posts", index)
        if not isinstance(item, dict):
            pos = doc.position(prefix)
            problems.append(
                Problem(
                    display,
                    pos.line,
                    pos.column,
                    f"posts[{index}]",
                    "each post must be a mapping of keys like `id:` and `text:`",
                    "start the post with `- id: ...`",
                )
            )
            continue
        try:
            post = Post.model_validate(item)
        except ValidationError as exc:
            problems.extend(problems_from_validation(exc, Post, doc, display, prefix))
            continue
        checker = PostChecker(ctx, display, locate, prefix)
        built = checker.build(post, defaults, order + index)
        check_likely_mistakes(checker, post, built, partial(_literal_block, doc, prefix))
        # Published from several accounts: each account's copy on its own, checked against its
        # own instance's limits (a problem the copies share is reported once).
        copies = [built]
        for i, name in enumerate(post.accounts[1:], start=1):
            copies.append(checker.build(post, defaults, order + index, copy=name, copy_index=i))
        seen: set[tuple[int, int, str, str]] = set()
        for problem in checker.problems:
            if (problem.line, problem.column, problem.message, problem.hint) not in seen:
                seen.add((problem.line, problem.column, problem.message, problem.hint))
                problems.append(problem)
        if not any(p.severity is Severity.ERROR for p in checker.problems):
            posts.extend(c for c in copies if c is not None)
    return posts, problems


def _literal_block(
    doc: YamlDocument, prefix: tuple[str | int, ...], where: tuple[str | int, ...]
) -> Position | None:
    return doc.literal_block((*prefix, *where))


def _check_schedule(
    campaign: Campaign,
    settings: CampaignSettings,
    published: Mapping[str, State] | None,
    now: datetime | None,
) -> None:
    queued = [p for p in campaign.posts if p.schedule.kind is ScheduleKind.SLOT]
    if queued and not settings.slots:
        for post in queued:
            campaign.problems.append(
                Problem(
                    post.file,
                    post.line,
                    1,
                    "id",
                    f"post {post.id!r} has no `at:` or `cron:`, and the config has no `slots:`",
                    "give it a time with `at:`, or add weekly `slots:` to the config",
                )
            )
    for post in campaign.posts:
        sched = post.schedule
        if sched.start and sched.until and sched.until < sched.start:
            campaign.problems.append(
                Problem(
                    post.file,
                    post.line,
                    1,
                    "until",
                    "`until` is before `from`",
                    "swap them or fix the dates",
                )
            )
        if now is None or published is None or sched.at is None or sched.at > now:
            continue
        state = published.get(post.id)
        if state is not None and (state.settled or state is State.SENDING):
            # Settled, or under way (a thread half out): the bot finishes it, whatever its time.
            continue
        campaign.overdue.append(
            Problem(
                post.file,
                post.line,
                1,
                "at",
                f"{to_zone(sched.at, settings.zone)} is in the "
                "past and the post has not been published",
                "it will be caught up if still within its `not_after` window, otherwise "
                "recorded as missed; change `at:` to publish it later",
                Severity.WARNING,
            )
        )
        campaign.problems.append(campaign.overdue[-1])
