"""From CLI options to a frozen :class:`~wgp_host.job.Job`: shared by ``wgp run`` and ``wgp queue add``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from wgp_hookspecs import METADATA_MODES, PROGRESS_MODES, JobOptions, LoadPlan, ParameterError, SinkOptions, UserError

from .assembly import SettingsFile, assemble_request, load_settings, media_path, parse_resolution, parse_set
from .job import Job, OutputOptions
from .naming import check_template
from .plugins import PluginHost
from .profiles import resolve_profile
from .progress import ProgressChannel
from .runtime import Runtime

#: Config keys handed to writers as options (flags override them).
WRITER_OPTION_KEYS = (
    "video_codec",
    "crf",
    "audio_format",
    "alpha_codec",
    "alpha_video_codec",
    "matte_outputs",
    "manifest_path",
)


def build_job(host: PluginHost, runtime: Runtime, opts: JobOptions) -> tuple[Job, list[str]]:
    """Validate everything a job needs, before anything is loaded or written.

    This is the door: every rule a job must pass is checked here, once (the
    family's ``check`` included), so a queued job never fails on bad input and
    each warning is reported once.  Returns the job and the warnings.
    """
    settings_model, settings = (None, {})
    settings_file = None
    recorded_adapters: dict[str, Any] = {}
    recorded_plan: dict[str, Any] = {}
    if opts.settings:
        settings_file = load_settings(opts.settings)
        settings_model, settings = settings_file.model, dict(settings_file.params)
    if opts.from_file:
        settings_file = None
        from .records import read_record

        record = read_record(opts.from_file)
        settings_model, settings = record["request"]["model"], dict(record["request"]["params"])
        # Replaying a record reuses its adapter payloads (resolved LoRAs, the
        # enhanced prompt) instead of resolving again.
        recorded_adapters = dict(record.get("adapters") or {})
        # ... and its plan options (levers change the frames), unless a flag overrides one.
        recorded_plan = dict(record.get("plan") or {})
    model_id = opts.model or settings_model
    if not model_id and settings_file is not None and settings_file.model_error:
        raise UserError(settings_file.model_error)
    if not model_id:
        raise UserError("no model given: use -m MODEL (see `wgp models`)")
    family, spec = host.model(model_id)
    # Which model the weights are decides the defaults, so it comes before the profile and the request
    # (the family reads only the folder's JSON configs; images are probed later, by its check).
    model_path = _weights_arg(opts.model_path)
    location = model_path or (runtime.get("model_paths", {}) or {}).get(spec.id)
    spec, weights_warnings = match_weights(family, spec, location)
    if spec.id != model_id and not model_path:
        model_path = location  # config model_paths names the id asked for, not the one it became
    profile = resolve_profile(family, spec, opts.profile, runtime.get("profiles_dir"))
    given_plan = dict(opts.plan_options)
    for name, option in host.registry.plan_options.items():
        if name in recorded_plan and given_plan.get(name) in (None, ()) and option.group in family.option_groups:
            given_plan[name] = recorded_plan[name]
    # How to load comes before the request: a bad flag is reported before any file is probed.
    plan = LoadPlan(
        weights=model_path,
        device=_device(opts.device or runtime.get("device", "auto")),
        options=plan_options(host, runtime, family, spec, given_plan, profile.plan if profile else {}),
        # This machine's cache folder, for door checks that read it (MagCache calibrations);
        # the worker that loads sets its own.
        cache_dir=runtime.get("cache_dir"),
    )
    flags = {k: v for k, v in opts.params.items() if v is not None}
    resolution: dict[str, int] = {}
    if opts.resolution:
        if "width" in flags or "height" in flags:
            raise UserError("use either --resolution or --width/--height, not both")
        resolution = dict(zip(("width", "height"), parse_resolution(opts.resolution)))
        flags.update(resolution)
    plan_warnings = list(family.check_plan(spec, plan) or []) if family.check_plan else []
    flags.update(parse_set(opts.set_items))
    flags.update(media_flag_params(spec, opts.media_flags))
    settings, settings_adapters, settings_warnings = _split_settings(host, spec, settings, settings_file, opts.settings)
    try:
        request, warnings = assemble_request(
            family,
            spec,
            profile=dict(profile.params) if profile else None,
            settings=settings,
            config_defaults=runtime.get("defaults", {}),
            model_defaults=(runtime.get("model_defaults", {}) or {}).get(spec.id, {}),
            flags=flags,
        )
    except ParameterError as exc:
        if exc.param in resolution and flags.get(exc.param) == resolution[exc.param]:
            # The user typed --resolution, not --width/--height: the message names what they typed.
            raise ParameterError("--resolution", f"{exc.param} {exc.rule}") from None
        raise ParameterError(_flag_for(spec, exc.param), exc.rule) from None
    writers = tuple(opts.writers) or tuple(runtime.get("writers", []))
    metadata_mode = opts.metadata_mode or runtime["metadata_mode"]
    if metadata_mode not in METADATA_MODES:
        raise UserError(f"metadata mode must be one of {', '.join(METADATA_MODES)} (got {metadata_mode!r}; "
                        "from --metadata-mode or config metadata_mode)")
    if metadata_mode == "json" and "sidecar" not in writers:
        if "sidecar" not in host.registry.writers:
            raise UserError("--metadata-mode json needs the 'sidecar' writer (install wgp-manifest)")
        writers += ("sidecar",)
    for name in writers:
        host.writer(name)  # unknown writer: an error before the job runs
    template = str(runtime["filename_template"])
    check_template(template, f"config filename_template, {runtime.origin('filename_template')}")
    writer_options = {key: runtime.get(key) for key in WRITER_OPTION_KEYS}
    writer_options.update({k: v for k, v in opts.writer_options.items() if v is not None})
    output_dir = Path(opts.output_dir).expanduser().resolve() if opts.output_dir else runtime.output_dir
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"output dir {output_dir} exists and is not a folder")
    # A profile's adapter options (a distillation LoRA) apply unless the flag is given.
    given_adapters = {k: v for k, v in opts.adapter_options.items() if v not in (None, (), False)}
    adapter_options = {**runtime.config, **settings_adapters, **opts.adapter_options, **(dict(profile.adapters) if profile else {}),
                       **given_adapters, "family": family.name, "spec": spec}
    adapters = {**recorded_adapters, **resolve_adapters(host, request, adapter_options)}
    job = Job(
        request=request,
        adapters=adapters,
        output=OutputOptions(
            output_dir=str(output_dir),
            writers=writers,
            metadata_mode=metadata_mode,
            filename_template=template,
            writer_options=writer_options,
        ),
        plan=plan,
        profile=profile.name if profile else None,
    )
    return job, weights_warnings + plan_warnings + settings_warnings + warnings


def _split_settings(host: PluginHost, spec: Any, settings: Mapping[str, Any], settings_file: SettingsFile | None,
                    path: str | None) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """A settings file's parameters, the values of the keys adapters claim (``Adapter.settings_keys``:
    WanGP's ``activated_loras`` go to the LoRA adapter), and the warning naming the keys of a WanGP
    file that nothing takes, which are dropped: everything else is refused by the assembly."""
    claimed = {key for adapter_class in host.registry.adapters.values() for key in getattr(adapter_class, "settings_keys", ())}
    params = {k: v for k, v in settings.items() if k not in claimed}
    adapters = {k: v for k, v in settings.items() if k in claimed}
    if settings_file is None or not settings_file.wangp:
        return params, adapters, []
    ignored = sorted(k for k in params if spec.param(k) is None)
    if not ignored:
        return params, adapters, []
    return ({k: v for k, v in params.items() if k not in ignored}, adapters,
            [f"settings file {path}: ignored WanGP-only keys: {', '.join(ignored)}"])


def match_weights(family: Any, spec: Any, location: str | None) -> tuple[Any, list[str]]:
    """The model the weights at ``location`` are (``ModelFamily.match_weights``), and the warning
    that says so when it is not the one asked for: its defaults, not the asked one's, then apply."""
    if family.match_weights is None or not location:
        return spec, []
    matched = family.match_weights(spec, str(location))
    if matched.id == spec.id:
        return spec, []
    if matched not in family.models:
        raise RuntimeError(f"family {family.name}: match_weights gave {matched.id!r}, which is not one of its models")
    return matched, [f"the weights at {location} are {matched.id}: running as {matched.id}, with its defaults"]


def plan_options(
    host: PluginHost, runtime: Runtime, family: Any, spec: Any, given: Mapping[str, Any],
    profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The values of the plan options that apply to ``family``: flag > config > profile > default.

    A flag given for a family outside the option's group is refused, so
    ``--offload`` on a model that cannot offload is an error rather than ignored.
    """
    registered = host.registry.plan_options
    unknown = sorted((set(given) | set(profile or {})) - set(registered))
    if unknown:
        raise UserError(f"unknown plan option {', '.join(unknown)}; registered: {', '.join(sorted(registered)) or 'none'}")
    values: dict[str, Any] = {}
    for name, option in sorted(registered.items()):
        flag = option.flags[0].split("/")[0]
        value = given.get(name)
        if option.group not in family.option_groups:
            if value is not None and value != ():
                raise UserError(f"{flag} does not apply to {spec.id} (it is an option of {option.group} families)")
            continue
        if value is None or (option.multiple and not value):
            value = runtime.config.get(option.key)
        if value is None:
            value = (profile or {}).get(name)
        if value is None:
            value = option.param.default
        try:
            if option.multiple:
                items = [value] if isinstance(value, str) else list(value or ())
                values[name] = [option.param.validate(item) for item in items]
            else:
                values[name] = option.param.validate(value)
                if option.param.is_media and values[name] is not None:
                    values[name] = media_path(name, values[name], option.param.type)
        except ParameterError as exc:
            raise ParameterError(flag, exc.rule) from None
    return values


#: What a device name looks like; the family checks that the device exists when it loads.
_DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")


def _device(name: str) -> str:
    text = str(name).strip().lower()
    kind, sep, index = text.partition(":")
    if kind not in _DEVICE_KINDS or (sep and (kind != "cuda" or not index.isdigit())):
        raise UserError(f"--device: must be auto, cpu, cuda, cuda:N or mps (got {name!r})")
    return text


def _flag_for(spec: Any, name: str) -> str:
    """How the user sets parameter ``name`` on the command line, for error messages."""
    param = spec.param(name)
    return (param.cli_flag if param is not None else None) or name


def media_flag_params(spec: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """Families' own input flags (``--control-video``) as the chosen model's parameters.

    Every such flag is repeatable on the command line; a parameter that takes one file
    refuses a second."""
    out: dict[str, Any] = {}
    for flag, values in given.items():
        values = [values] if isinstance(values, str) else list(values or ())
        if not values:
            continue
        param = next((p for p in spec.params if p.cli_flag == flag), None)
        if param is None:
            takes = sorted(p.cli_flag for p in spec.params if p.is_media and p.cli_flag)
            raise UserError(f"{flag}: {spec.id} takes no such input"
                            + (f" (its inputs: {', '.join(takes)})" if takes else " (it takes no input files)"))
        if not param.multiple and len(values) > 1:
            raise ParameterError(flag, f"takes one file (given {len(values)})")
        out[param.name] = values if param.multiple else values[0]
    return out


def resolve_adapters(host: PluginHost, request: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """Ask every adapter for its payload now, so the job replays without discovery."""
    payloads = {}
    for name, adapter_class in sorted(host.registry.adapters.items()):
        payload = host.adapter(name).resolve(request, options)
        if payload is not None:
            payloads[name] = dict(payload)
    return payloads


def _weights_arg(model_path: str | None) -> str | None:
    """A local folder becomes absolute (jobs replay from any cwd); anything else is a repo id."""
    if not model_path:
        return None
    path = Path(model_path).expanduser()
    if path.exists():
        return str(path.resolve())
    if model_path.startswith((".", "/", "~")) or model_path.count("/") != 1:
        raise UserError(f"--model-path {model_path!r} is neither an existing folder nor a repo id like org/name")
    return model_path


def make_channel(
    host: PluginHost,
    progress: str,
    events_file: str | None,
    extra_sinks: Mapping[str, Any] | list[str] = (),
) -> ProgressChannel:
    """Create the sinks for one process: ``--progress``, ``--events`` and config ``progress_sinks``."""
    sinks = []
    available = host.registry.sinks

    def create(name: str, options: SinkOptions, required: bool = True) -> None:
        if name not in available:
            if required:
                raise UserError(f"progress sink {name!r} is not available; available: {', '.join(sorted(available)) or 'none'}")
            return
        sinks.append(available[name](options))

    if progress == "auto":
        if sys.stderr.isatty():
            create("console", SinkOptions(target=sys.stderr, tty=True), required=False)
    elif progress == "console":
        create("console", SinkOptions(target=sys.stderr, tty=sys.stderr.isatty()))
    elif progress == "jsonl":
        create("jsonl", SinkOptions(target=sys.stdout))
    elif progress != "none":
        raise UserError(f"--progress must be one of {', '.join(PROGRESS_MODES)} (got {progress!r})")
    if events_file:
        path = Path(events_file).expanduser()
        if path.is_dir():
            raise UserError(f"--events {events_file}: is a folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        create("jsonl", SinkOptions(target=str(path)))
    if extra_sinks:
        from .runtime import ensure_runtime_initialized

        # Config sinks are told where this process keeps state (a webhook sink finds its URLs there).
        extra = {"state_dir": str(ensure_runtime_initialized().state_dir)}
        for name in extra_sinks:
            create(str(name), SinkOptions(extra=dict(extra)))
    return ProgressChannel(sinks)


def enqueue(runtime: Runtime, jobs: list[Job], priority: int, backend: Any = None) -> list[str]:
    """Add built jobs to the persistent queue, in order, each one's input files stored first (a
    queued job must not depend on the user keeping them); returns their ids.  ``backend`` is an
    open one to use (left open); by default the configured backend is opened and closed here."""
    from .cli.queue import open_backend
    from .inputs import stash_inputs

    target = backend if backend is not None else open_backend(runtime)
    try:
        return [target.add(stash_inputs(job, runtime.state_dir).to_dict(), int(priority)) for job in jobs]
    finally:
        if backend is None:
            target.close()
