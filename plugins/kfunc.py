"""Built-in kfunc passes: ``kfunc-discovery``, ``bpf-kfunc-tag``, ``fastcall-tag``,
``implicit-args`` and ``arena`` (spec passes.md).

``kfunc-discovery`` (scope ``btf``) collects the DECL_TAG list (§0) into
``ctx.decl_tags`` and the kfuncs of every ``BTF_KFUNCS`` set8 (§1) into ``ctx.kfuncs``,
sorted by FUNC ID. The other four are ``kfunc``-scope passes: the host calls the group
once per kfunc in ascending FUNC ID, so the append order is upstream's (§3).

Flag bits, tag names, suffixes and struct names are pass options whose defaults are the
upstream values (passes.md §7). Messages keep upstream's wording. Every option called
``idempotent`` (default false, not upstream) skips what the input already carries; see
docs/passes.md.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from itertools import compress
from operator import itemgetter
from typing import Any

from btfids.btf import Btf, BtfError
from btfids.btf import kinds as K
from btfids.context import Context, Kfunc
from btfids.errors import BtfidsError
from btfids.hookspecs import OptionSpec, PassSpec, hookimpl

DISCOVERY = "kfunc-discovery"
KFUNC_TAG = "bpf-kfunc-tag"
FASTCALL_TAG = "fastcall-tag"
IMPLICIT_ARGS = "implicit-args"
ARENA = "arena"

EINVAL = 22  # libbpf returns -EINVAL for everything the model refuses
KSYM_NAME_LEN = 512
_MODS = frozenset({K.VOLATILE, K.CONST, K.RESTRICT, K.TYPE_TAG})
_MAX_MOD_CHAIN = 4096  # a longer modifier chain is a cycle (malformed BTF)


def _bit(default: int, help: str) -> OptionSpec:
    """A bit number of the 32-bit kfunc flags word."""
    return OptionSpec(default, help, min=0, max=31)


def _tag_name(value: str) -> str | None:
    """A decl tag (or attribute) name is a non-empty string without NUL bytes."""
    return f"{value!r} is not a name" if not value or "\0" in value else None


def _names(value: list[str]) -> str | None:
    bad = [v for v in value if not v or "\0" in v]
    return f"{bad[0]!r} is not a name" if bad else None


DISCOVERY_OPTION_SPECS: dict[str, OptionSpec] = {
    "set8_kfuncs_flag": OptionSpec(
        0x1, "set8 header flag that marks a BTF_KFUNCS set (BTF_SET8_KFUNCS)",
        min=1, max=0xFFFFFFFF),
    "flag_mismatch": OptionSpec(
        "error", 'same kfunc with other flags in another set: "error" (upstream) or '
        '"warn-or" (v1 series: warn, then OR the flags)', choices=("error", "warn-or")),
}
_IDEMPOTENT = OptionSpec(False, "skip what the input already carries (not upstream)")
KFUNC_TAG_OPTION_SPECS: dict[str, OptionSpec] = {
    "tag": OptionSpec("bpf_kfunc", "name of the DECL_TAG added to every kfunc",
                      nonempty=True, check=_tag_name),
    "idempotent": _IDEMPOTENT,
}
FASTCALL_OPTION_SPECS: dict[str, OptionSpec] = {
    "tag": OptionSpec("bpf_fastcall", "name of the DECL_TAG added to KF_FASTCALL kfuncs",
                      nonempty=True, check=_tag_name),
    "fastcall_bit": _bit(12, "flag bit KF_FASTCALL"),
    "idempotent": _IDEMPOTENT,
}
IMPLICIT_OPTION_SPECS: dict[str, OptionSpec] = {
    "implicit_args_bit": _bit(16, "flag bit KF_IMPLICIT_ARGS"),
    "impl_suffix": OptionSpec("_impl", "suffix of the FUNC that keeps the full prototype",
                              nonempty=True, check=_tag_name),
    "implicit_arg_structs": OptionSpec(
        ["bpf_prog_aux", "btf_struct_meta"],
        "a pointer to one of these structs is an implicit argument", check=_names),
    "kfunc_tag": OptionSpec("bpf_kfunc", "the decl tag NOT copied onto the _impl FUNC",
                            nonempty=True, check=_tag_name),
    "ksym_name_len": OptionSpec(KSYM_NAME_LEN, "KSYM_NAME_LEN: an _impl name this long "
                                "is an error", min=2, max=1 << 20),
    "idempotent": _IDEMPOTENT,
}
ARENA_OPTION_SPECS: dict[str, OptionSpec] = {
    "arena_ret_bit": _bit(13, "flag bit KF_ARENA_RET"),
    "arena_arg1_bit": _bit(14, "flag bit KF_ARENA_ARG1"),
    "arena_arg2_bit": _bit(15, "flag bit KF_ARENA_ARG2"),
    "arena_attr": OptionSpec("address_space(1)", "the TYPE_TAG (kflag 1) attribute added",
                             nonempty=True, check=_tag_name),
    "arena_param_suffixes": OptionSpec(
        ["__arena", "__arena__nullable"],
        "a parameter whose name ends in one of these is an arena pointer", check=_names),
    "idempotent": _IDEMPOTENT,
}


def _defaults(specs: Mapping[str, OptionSpec]) -> dict[str, Any]:
    return {name: o.default for name, o in specs.items()}


#: the default option values (what the ``run_*`` functions get without a config)
DISCOVERY_OPTIONS = _defaults(DISCOVERY_OPTION_SPECS)
KFUNC_TAG_OPTIONS = _defaults(KFUNC_TAG_OPTION_SPECS)
FASTCALL_OPTIONS = _defaults(FASTCALL_OPTION_SPECS)
IMPLICIT_OPTIONS = _defaults(IMPLICIT_OPTION_SPECS)
ARENA_OPTIONS = _defaults(ARENA_OPTION_SPECS)


# ------------------------------------------------------------------ helpers
def _s(name: bytes) -> str:
    return name.decode("latin-1")


def _mask(options: Mapping[str, Any], key: str) -> int:
    bit = options[key]
    if not 0 <= bit <= 31:
        raise BtfidsError(f"config error: option {key} = {bit}: a flag bit must be 0..31")
    return 1 << int(bit)


def _b(value: str) -> bytes:
    return value.encode()


def _set_type(btf: Btf, tid: int, new: int) -> None:
    """``t->type = new`` on an own type, in place."""
    btf.make_modifiable()
    btf.types[tid - btf.start_id][2] = new


def _skip_mods(btf: Btf, tid: int) -> int:
    """``btf_type_skip_qualifiers``: follow CONST/VOLATILE/RESTRICT/TYPE_TAG (not
    TYPEDEF)."""
    for _ in range(_MAX_MOD_CHAIN):
        if tid == 0 or btf.kind(tid) not in _MODS:
            return tid
        tid = btf.type(tid)[2]
    raise BtfidsError(f"ERROR: resolve_btfids: type modifier loop at btf id {tid}")


def _params(btf: Btf, proto: Sequence[int]) -> list[tuple[bytes, int]]:
    """(name, type) of every param of a FUNC_PROTO record (unnamed → b"")."""
    out = []
    for j in range(3, len(proto), 2):
        off = proto[j]
        out.append((btf.str_at_fast(off) if off else b"", proto[j + 1]))
    return out


# The DECL_TAG IDs of a base BTF never change while it is a base: compute them once
# per base object (every module of a build shares vmlinux).
_BASE_TAGS: weakref.WeakKeyDictionary[Btf, tuple[int, list[int]]] = (
    weakref.WeakKeyDictionary()
)


_DECL_TAG_MASK = K.kind_table(K.DECL_TAG)
_FUNC_MASK = K.kind_table(K.FUNC)


def _own_decl_tags(btf: Btf, info_bytes: bytes | None = None) -> list[int]:
    if info_bytes is None:
        info_bytes = btf.own_info_bytes()
    return list(compress(range(btf.start_id, btf.type_cnt),
                         info_bytes.translate(_DECL_TAG_MASK)))


def collect_decl_tags(btf: Btf, info_bytes: bytes | None = None) -> list[int]:
    """Every DECL_TAG ID 1 … type_cnt−1, ascending, base included (passes.md §0).
    ``info_bytes``: ``btf.own_info_bytes()`` if the caller has it."""
    base = btf.base
    out: list[int] = []
    if base is not None:
        cached = _BASE_TAGS.get(base)
        if cached is None or cached[0] != base.type_cnt:
            idx = base.index
            if idx is not None and base.base is None:
                cached = (base.type_cnt, idx.decl_tags.tolist())
            else:
                cached = (base.type_cnt, collect_decl_tags(base))
            _BASE_TAGS[base] = cached
        out = list(cached[1])
    out.extend(_own_decl_tags(btf, info_bytes))
    return out


class FuncIndex:
    """``btf__find_by_name_kind_own(btf, name, FUNC)`` as a dict: the lowest own FUNC ID
    per name. Types appended after it was built are scanned on the next lookup."""

    def __init__(self, btf: Btf, info_bytes: bytes | None = None) -> None:
        self.btf = btf
        self.ids: dict[bytes, int] = {}
        self.upto = btf.start_id
        # btf.own_info_bytes() of every current own type, for the first scan
        self._info_bytes = info_bytes

    def find(self, name: bytes) -> int:
        btf = self.btf
        end = btf.type_cnt
        if self.upto < end:
            self._scan(self.upto, end)
        tid = self.ids.get(name, -1)
        if tid >= 0:
            t = btf.types[tid - btf.start_id]
            if (t[1] >> 24) & 0x7F != K.FUNC or btf.str_at_fast(t[0]) != name:
                # the BTF was changed under us (another pass): rebuild
                self.ids.clear()
                self._scan(btf.start_id, end)
                tid = self.ids.get(name, -1)
        return tid

    def _scan(self, lo: int, hi: int) -> None:
        btf = self.btf
        start = btf.start_id
        info = self._info_bytes
        self._info_bytes = None
        if info is None or lo != start or len(info) != hi - lo:
            info = btf.own_info_bytes(lo - start, hi - start)
        mask = info.translate(_FUNC_MASK)
        recs = btf.types[lo - start : hi - start]
        tids = list(compress(range(lo, hi), mask))
        if not tids:
            self.upto = hi
            return
        offs = list(map(itemgetter(0), compress(recs, mask)))
        names = btf.strings_at(offs)
        ids = self.ids
        if not ids:   # lowest ID per name: of the reversed pairs, the last write wins
            ids.update(zip(reversed(names), reversed(tids), strict=True))
        else:
            for tid, name in zip(tids, names, strict=True):
                if name not in ids:
                    ids[name] = tid
        self.upto = hi


_FUNC_INDEX: weakref.WeakKeyDictionary[Btf, FuncIndex] = weakref.WeakKeyDictionary()


def func_index(btf: Btf, info_bytes: bytes | None = None) -> FuncIndex:
    """The (cached) own-FUNC index of ``btf`` (``info_bytes``: ``btf.own_info_bytes()``,
    if the caller has it, for a new index's first scan)."""
    index = _FUNC_INDEX.get(btf)
    if index is None:
        index = _FUNC_INDEX[btf] = FuncIndex(btf, info_bytes)
    return index


# ------------------------------------------------------------------ kfunc-discovery
def _malformed(node_name: bytes) -> BtfidsError:
    return BtfidsError(f"FAILED malformed data for set '{_s(node_name)}'")


def run_discovery(ctx: Context, options: Mapping[str, Any]) -> None:
    """§0 DECL_TAG list and §1 kfuncs from ``BTF_KFUNCS`` set8 sets."""
    btf = ctx.btf
    info_bytes = btf.own_info_bytes()  # one C pass serves both scans below
    ctx.decl_tags = collect_decl_tags(btf, info_bytes)
    ctx.kfuncs = []
    ctx.stat(DISCOVERY, "decl_tags_in_input", len(ctx.decl_tags))
    mismatch = options["flag_mismatch"]
    if mismatch not in ("error", "warn-or"):
        raise BtfidsError(
            f"config error: option flag_mismatch = {mismatch!r}: use 'error' or 'warn-or'"
        )
    set_flag = int(options["set8_kfuncs_flag"])
    ids = ctx.ids
    sets = entries = 0
    found: dict[int, Kfunc] = {}
    if ids is not None and ids.section.words:
        log = ctx.log
        words = ids.section.words
        nwords = len(words)
        sec_addr = ids.section.addr
        index = func_index(btf, info_bytes)
        for node in ids.descending(ids.sets):
            if node.kind != "set8" or len(node.addrs) != 1:
                continue
            set_addr = node.addrs[0]
            off = set_addr - sec_addr
            if off < 0 or off % 4 or off // 4 + 1 >= nwords:
                raise _malformed(node.name)
            w = off // 4
            if not words[w + 1] & set_flag:
                continue
            if w + 2 + 2 * node.cnt > nwords:
                raise _malformed(node.name)
            sets += 1
            set_name = _s(node.name)
            for i in range(node.cnt):
                entries += 1
                name = ids.name_at(set_addr + 8 + 8 * i)
                if name is None:
                    log.warn(f"WARN: resolve_btfids: no BTF ID symbol for {set_name} entry {i}")
                    continue
                func_id = index.find(name)
                if func_id < 0:
                    log.warn(
                        f"WARN: resolve_btfids: no BTF func for kfunc {_s(name)} in {set_name}"
                    )
                    continue
                log.debug(f"found kfunc {_s(name)} in {set_name}")
                flags = words[w + 3 + 2 * i]
                old = found.get(func_id)
                if old is None:
                    found[func_id] = Kfunc(name, func_id, flags)
                elif old.flags != flags:
                    msg = (
                        f"kfunc {_s(old.name)} has inconsistent flags across BTF ID sets: "
                        f"0x{old.flags:x} != 0x{flags:x}"
                    )
                    if mismatch == "warn-or":
                        log.warn(f"WARN: resolve_btfids: {msg}")
                        old.flags |= flags
                        continue
                    # upstream prints the kfunc's own name (first seen == this name)
                    log.info(f"ERROR: resolve_btfids: {msg}")
                    raise BtfidsError("ERROR: resolve_btfids: failed to collect kfuncs from BTF")
    ctx.kfuncs = [found[k] for k in sorted(found)]
    ctx.stat(DISCOVERY, "kfunc_sets", sets)
    ctx.stat(DISCOVERY, "entries", entries)
    ctx.stat(DISCOVERY, "kfuncs", len(ctx.kfuncs))


# ------------------------------------------------------------------ decl tags
def _has_tag(ctx: Context, tag: bytes, target: int) -> bool:
    """An existing DECL_TAG ``tag`` → ``target``, component −1, kflag 0."""
    btf = ctx.btf
    for tid in ctx.decl_tags:
        t = btf.type(tid)
        if t[2] == target and t[3] == 0xFFFFFFFF and not t[1] >> 31 and btf.str_at(t[0]) == tag:
            return True
    return False


def _add_kfunc_tag(ctx: Context, pass_name: str, tag: bytes, kfunc: Kfunc, idem: bool) -> None:
    if idem and _has_tag(ctx, tag, kfunc.func_id):
        ctx.add_stat(pass_name, "tags_present")
        return
    try:
        tid = ctx.btf.add_decl_tag(tag, kfunc.func_id, -1)
    except BtfError as exc:
        raise BtfidsError(
            f"ERROR: resolve_btfids: failed to add '{_s(tag)}' decl tag for BTF id "
            f"{kfunc.func_id}: {-EINVAL}"
        ) from exc
    ctx.decl_tags.append(tid)
    ctx.add_stat(pass_name, "tags_added")


def run_kfunc_tag(ctx: Context, options: Mapping[str, Any], kfunc: Kfunc) -> None:
    """§2.1: DECL_TAG ``bpf_kfunc`` (component −1) on every kfunc."""
    _add_kfunc_tag(ctx, KFUNC_TAG, _b(options["tag"]), kfunc, options["idempotent"])


def run_fastcall_tag(ctx: Context, options: Mapping[str, Any], kfunc: Kfunc) -> None:
    """§2.2: DECL_TAG ``bpf_fastcall`` on kfuncs flagged ``KF_FASTCALL``."""
    if kfunc.flags & _mask(options, "fastcall_bit"):
        _add_kfunc_tag(ctx, FASTCALL_TAG, _b(options["tag"]), kfunc, options["idempotent"])


# ------------------------------------------------------------------ implicit args
def _is_implicit(btf: Btf, type_id: int, structs: frozenset[bytes]) -> bool:
    tid = _skip_mods(btf, type_id)
    if tid == 0 or btf.kind(tid) != K.PTR:
        return False
    tid = _skip_mods(btf, btf.type(tid)[2])
    return tid != 0 and btf.kind(tid) == K.STRUCT and btf.name(tid) in structs


def run_implicit_args(ctx: Context, options: Mapping[str, Any], kfunc: Kfunc) -> None:
    """§2.3: ``KF_IMPLICIT_ARGS`` — FUNC ``<name>_impl`` with the original prototype (and
    the kfunc's decl tags but ``bpf_kfunc``), and a new prototype for the kfunc that
    stops at the first implicit parameter."""
    if not kfunc.flags & _mask(options, "implicit_args_bit"):
        return
    btf = ctx.btf
    log = ctx.log
    kid = kfunc.func_id
    t = btf.type(kid) if 0 < kid < btf.type_cnt else None
    if t is None or (t[1] >> 24) & 0x7F != K.FUNC:
        raise BtfidsError(f"ERROR: resolve_btfids: btf id {kid} is not a function")
    linkage = K.vlen_of(t[1])
    p0 = t[2]
    if p0 == 0 or btf.kind(p0) != K.FUNC_PROTO:
        raise BtfidsError(f"ERROR: resolve_btfids: btf id {p0} is not a function prototype")
    suffix = _b(options["impl_suffix"])
    impl = kfunc.name + suffix
    if len(impl) >= options["ksym_name_len"]:
        raise BtfidsError(f"ERROR: function name is too long: {_s(kfunc.name)}{_s(suffix)}")
    structs = frozenset(_b(s) for s in options["implicit_arg_structs"])
    params = _params(btf, btf.type(p0))
    keep = len(params)
    for j, (_, ptype) in enumerate(params):
        if _is_implicit(btf, ptype, structs):
            keep = j
            break

    if func_index(btf).find(impl) > 0:
        log.debug(f"resolve_btfids: function {_s(impl)} already exists in BTF")
    else:
        try:
            new_func = btf.add_func(impl, linkage, p0)
        except BtfError as exc:
            raise BtfidsError(
                f"ERROR: resolve_btfids: failed to add func {_s(impl)} to BTF"
            ) from exc
        ctx.add_stat(IMPLICIT_ARGS, "impl_funcs_added")
        skip = _b(options["kfunc_tag"])
        for tag_id in ctx.decl_tags:
            tt = btf.type(tag_id)
            if tt[2] != kid:
                continue
            tag_name = btf.str_at(tt[0])
            if tag_name == skip:
                continue
            try:
                btf.add_decl_tag(tag_name, new_func, K.to_signed32(tt[3]), kflag=tt[1] >> 31)
            except BtfError as exc:
                raise BtfidsError(
                    f"ERROR: resolve_btfids: failed to add decl tag {_s(tag_name)} for "
                    f"{_s(impl)}"
                ) from exc
            ctx.add_stat(IMPLICIT_ARGS, "tags_copied")

    if options["idempotent"] and keep == len(params):
        # the prototype has no implicit parameter (left by an earlier run): a copy
        # would only be folded by dedup again
        ctx.add_stat(IMPLICIT_ARGS, "protos_present")
        return
    ret = btf.type(p0)[2]
    try:
        p1 = btf.add_func_proto(ret)
    except BtfError as exc:
        raise BtfidsError(
            f"ERROR: resolve_btfids: failed to add func proto for {_s(kfunc.name)}"
        ) from exc
    for name, ptype in params[:keep]:
        try:
            btf.add_func_param(name, ptype)
        except BtfError as exc:
            raise BtfidsError(
                f"ERROR: resolve_btfids: failed to add param {_s(name)} for {_s(kfunc.name)}"
            ) from exc
    _set_type(btf, kid, p1)
    ctx.add_stat(IMPLICIT_ARGS, "protos_added")
    ctx.add_stat(IMPLICIT_ARGS, "params_dropped", len(params) - keep)
    log.debug(f"resolve_btfids: updated BTF for kfunc with implicit args {_s(kfunc.name)}")


# ------------------------------------------------------------------ arena
def _is_attr_ptr(btf: Btf, tid: int, attr: bytes) -> bool:
    """``tid`` is already ``PTR → TYPE_TAG(kflag 1, attr)`` (idempotent mode)."""
    if tid == 0 or btf.kind(tid) != K.PTR:
        return False
    tag = btf.type(tid)[2]
    if tag == 0:
        return False
    t = btf.type(tag)
    return (t[1] >> 24) & 0x7F == K.TYPE_TAG and t[1] >> 31 == 1 and btf.str_at(t[0]) == attr


def _arena_tag_ptr(btf: Btf, ptr_id: int, kfunc: Kfunc, attr: bytes) -> int:
    """TYPE_TAG(kflag 1, attr) → pointee, then PTR → that tag; returns the new PTR."""
    if ptr_id == 0 or btf.kind(ptr_id) != K.PTR:
        raise BtfidsError(
            f"ERROR: resolve_btfids: kfunc {_s(kfunc.name)}: arena type is not a pointer"
        )
    try:
        tag_id = btf.add_type_attr(attr, btf.type(ptr_id)[2])
    except BtfError as exc:
        raise BtfidsError(
            f"ERROR: resolve_btfids: kfunc {_s(kfunc.name)}: failed to add a type attr to "
            f"BTF: {-EINVAL}"
        ) from exc
    try:
        return btf.add_ptr(tag_id)
    except BtfError as exc:
        raise BtfidsError(
            f"ERROR: resolve_btfids: kfunc {_s(kfunc.name)}: failed to add a pointer to "
            f"BTF: {-EINVAL}"
        ) from exc


def run_arena(ctx: Context, options: Mapping[str, Any], kfunc: Kfunc) -> None:
    """§2.4: ``address_space(1)`` on the return value (``KF_ARENA_RET``) and on arena
    params (``KF_ARENA_ARG1/ARG2``, names ending in ``__arena``/``__arena__nullable``),
    through a new prototype; the old one is never modified."""
    flags = kfunc.flags
    ret_flag = flags & _mask(options, "arena_ret_bit")
    arg1 = flags & _mask(options, "arena_arg1_bit")
    arg2 = flags & _mask(options, "arena_arg2_bit")
    suffixes = tuple(_b(s) for s in options["arena_param_suffixes"])
    btf = ctx.btf
    kid = kfunc.func_id
    pid = btf.type(kid)[2]
    proto = btf.type(pid)
    params = _params(btf, proto)
    arena = [
        i for i, (name, _) in enumerate(params)
        if (suffixes and name.endswith(suffixes)) or (i == 0 and arg1) or (i == 1 and arg2)
    ]
    if not ret_flag and not arena:
        return
    attr = _b(options["arena_attr"])
    ret = proto[2]
    if options["idempotent"]:
        if ret_flag and _is_attr_ptr(btf, ret, attr):
            ret_flag = 0
        arena = [i for i in arena if not _is_attr_ptr(btf, params[i][1], attr)]
        if not ret_flag and not arena:
            ctx.add_stat(ARENA, "protos_present")
            return
    name = _s(kfunc.name)
    if ret_flag:
        ret = _arena_tag_ptr(btf, ret, kfunc, attr)
        ctx.add_stat(ARENA, "attrs_added")
    try:
        p2 = btf.add_func_proto(ret)
    except BtfError as exc:
        raise BtfidsError(
            f"ERROR: resolve_btfids: kfunc {name}: failed to add a func proto to BTF: {-EINVAL}"
        ) from exc
    rec = btf.types[p2 - btf.start_id]
    for pname, ptype in params:
        try:
            btf.add_func_param(pname, ptype)
        except BtfError as exc:
            raise BtfidsError(
                f"ERROR: resolve_btfids: kfunc {name}: failed to add a proto param to BTF: "
                f"{-EINVAL}"
            ) from exc
    for i in arena:
        rec[4 + 2 * i] = _arena_tag_ptr(btf, rec[4 + 2 * i], kfunc, attr)
        ctx.add_stat(ARENA, "attrs_added")
    ctx.log.debug(f"added arena-tagged proto for kfunc {name}: {p2}")
    _set_type(btf, kid, p2)
    ctx.add_stat(ARENA, "protos_added")


# ------------------------------------------------------------------ registration
_NEEDS = (DISCOVERY,)


@hookimpl
def btfids_before_pass(ctx: Context, spec: PassSpec) -> None:
    """Once the kfunc passes are done (any other whole-BTF pass starts), drop the
    FUNC-name index of the BTF (vmlinux: ~4 MB, and dedup invalidates it anyway); a
    later pass that asks for it gets it rebuilt."""
    if spec.scope == "btf" and spec.name != DISCOVERY:
        _FUNC_INDEX.pop(ctx.btf, None)


@hookimpl
def btfids_register_passes() -> list[PassSpec]:
    return [
        PassSpec(
            DISCOVERY,
            "find kfuncs in BTF_KFUNCS set8 sets (ascending FUNC ID); collect DECL_TAGs",
            run_discovery,
            options=DISCOVERY_OPTION_SPECS,
        ),
        PassSpec(
            KFUNC_TAG, "DECL_TAG bpf_kfunc on every kfunc", run_kfunc_tag,
            scope="kfunc", needs=_NEEDS, options=KFUNC_TAG_OPTION_SPECS,
        ),
        PassSpec(
            FASTCALL_TAG, "DECL_TAG bpf_fastcall on KF_FASTCALL kfuncs", run_fastcall_tag,
            scope="kfunc", needs=_NEEDS, options=FASTCALL_OPTION_SPECS,
        ),
        PassSpec(
            IMPLICIT_ARGS,
            "KF_IMPLICIT_ARGS: FUNC <name>_impl + prototype without implicit args",
            run_implicit_args,
            scope="kfunc", needs=_NEEDS, options=IMPLICIT_OPTION_SPECS,
        ),
        PassSpec(
            ARENA, "address_space(1) attributes on arena kfunc pointers", run_arena,
            scope="kfunc", needs=_NEEDS, options=ARENA_OPTION_SPECS,
        ),
    ]
