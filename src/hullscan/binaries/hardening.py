"""Exploit mitigations of ELF and PE binaries, computed the way ``checksec`` does.

``inspect_binary`` turns one file into a ``BinaryInfo`` (or None when the content is
neither ELF nor PE, recognised by magic bytes, never by name); ``HardeningAnalyzer``
turns that record into findings:

``HS-BIN-001``  an ELF executable or shared object lacks PIE (executables), NX or RELRO;
                the finding also lists a missing stack canary and FORTIFY_SOURCE, which
                alone make no finding (see ``ELF_TRIGGERS``)
``HS-BIN-002``  an ELF RPATH/RUNPATH names a relative or world-writable directory
``HS-BIN-003``  a PE image lacks ASLR (DYNAMICBASE) or DEP (NX_COMPAT)

Every finding carries the binary's full property record in ``details`` (see
``BinaryInfo.to_dict``, plus ``missing``: the absent protections by checksec's names).
Hardened binaries produce no finding at all, so a summary table built from cached
findings lists only the binaries that lack something; callers that need a record for
every binary call ``inspect_binary`` themselves.

ELF properties follow checksec 2.6 (``filecheck`` in ``/usr/bin/checksec``):

* type: ``exec`` (ET_EXEC), ``pie`` or ``dso`` (ET_DYN), ``rel``, ``other``. checksec calls
  an ET_DYN file PIE when it has a DT_DEBUG tag; here it is PIE when DT_FLAGS_1 has DF_1_PIE,
  or it has DT_DEBUG, or it has PT_INTERP and no DT_SONAME (so ``libc.so.6``, which has an
  interpreter so that it can be run, stays a DSO).
* nx: a PT_GNU_STACK segment without PF_X (no PT_GNU_STACK: executable stack).
* relro: ``none``; ``partial`` with PT_GNU_RELRO; ``full`` when the loader also binds
  everything at startup (DT_BIND_NOW, DT_FLAGS & DF_BIND_NOW, or DT_FLAGS_1 & DF_1_NOW).
* canary: a symbol name containing ``__stack_chk_fail``, ``__stack_chk_guard`` or
  ``__intel_security_cookie`` in ``.dynsym`` or ``.symtab``.
* fortify: a symbol whose name, leading underscores removed, ends in ``_chk``
  (``__printf_chk``, ``__memcpy_chk``) in ``.dynsym`` or ``.symtab``.
* rpath/runpath: the DT_RPATH/DT_RUNPATH strings; ``unsafe_paths`` lists entries that are
  empty, relative (not starting with ``/`` or ``$ORIGIN``) or under /tmp, /var/tmp, /dev/shm.
* stripped: no SHT_SYMTAB section; static: no PT_INTERP and no DT_NEEDED.
* setuid/setgid: from the file's mode.

Symbol names are read straight from the string tables the symbol tables link to (no
per-symbol parsing), so even libraries with 100k symbols are cheap.

PE properties (pefile, headers plus the resource and load-config directories only):
aslr (DYNAMICBASE), high_entropy_va (64-bit only), dep (NX_COMPAT), cfg (GUARD_CF),
safeseh (32-bit x86 only: NO_SEH, or a load config with an SEHandlerTable), signed (a
non-empty security directory), and the VERSIONINFO strings in ``version_info``.
"""

from __future__ import annotations

import contextlib
import re
import struct
from dataclasses import dataclass, field, replace
from typing import IO, Any, cast

from hullscan.analyzer import Analyzer, AnalyzerInputError, AnalyzerResult, MiB
from hullscan.checks.catalogue import Catalogue, Check
from hullscan.model import FileInfo, Finding, FindingKind, Severity
from hullscan.tempfiles import PrefixedStream, spool, spool_to_path

ELF_MAGIC = b"\x7fELF"
MZ_MAGIC = b"MZ"
PE_SIGNATURE = b"PE\0\0"
#: where e_lfanew may point at most (real linkers put the PE header within the first KiB)
MAX_PE_OFFSET = 64 * 1024
MAX_SECTIONS = 0xFF00
_CHUNK = 1 * MiB
_OVERLAP = 256
_SHARED_OR_WINDOWS = re.compile(r"\.so(?:\.\d+)*$|\.(?:exe|dll|sys)$", re.IGNORECASE)
_CANARY = re.compile(rb"__stack_chk_fail|__stack_chk_guard|__intel_security_cookie")
# a name ending in _chk with something other than underscores before it; ".symtab" names
# of imported symbols may carry their version ("__printf_chk@GLIBC_2.3.4")
_FORTIFY = re.compile(rb"[^\x00_]_*_chk[\x00@]")
_WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")
# (pyelftools' own ELFError is added where pyelftools is imported)
_ELF_ERRORS: tuple[type[Exception], ...] = (
    OverflowError,
    ValueError,
    OSError,
    EOFError,
    struct.error,
    KeyError,
    IndexError,
    AttributeError,
    TypeError,
    AssertionError,
)  # pyelftools asserts on some broken tables

# dynamic-section flag bits (elf.h)
DF_BIND_NOW = 0x8
DF_1_NOW = 0x1
DF_1_PIE = 0x08000000
PF_X = 0x1

# PE DllCharacteristics bits (winnt.h)
HIGH_ENTROPY_VA = 0x0020
DYNAMIC_BASE = 0x0040
NX_COMPAT = 0x0100
NO_SEH = 0x0400
GUARD_CF = 0x4000
IMAGE_FILE_DLL = 0x2000
MACHINE_I386 = 0x014C
PE32_PLUS = 0x20B
VERSION_KEYS = (
    "ProductName",
    "ProductVersion",
    "CompanyName",
    "FileVersion",
    "FileDescription",
    "OriginalFilename",
)
MAX_VERSION_VALUE = 256
#: the ELF protections whose absence alone makes a finding. A missing canary or FORTIFY
#: is inferred from absent symbols, which mostly means that no function needed one (on
#: Debian 12, half the binaries in /usr/bin and /usr/lib): they are listed in the
#: finding's ``missing`` when it is made, but never make one on their own.
ELF_TRIGGERS = ("PIE", "NX", "RELRO")


@dataclass(frozen=True)
class BinaryInfo:
    """The mitigations of one binary; ELF fields are unused for PE and vice versa."""

    format: str  # "ELF" | "PE"
    #: ELF: exec | pie | dso | rel | other;  PE: exe | dll
    type: str
    machine: str = ""
    # ELF
    pie: bool = False
    nx: bool = False
    relro: str = "none"  # none | partial | full
    canary: bool = False
    fortify: bool = False
    rpath: str = ""
    runpath: str = ""
    unsafe_paths: tuple[str, ...] = ()
    stripped: bool = False
    static: bool = False
    setuid: bool = False
    setgid: bool = False
    # PE
    aslr: bool = False
    high_entropy_va: bool | None = None
    dep: bool = False
    cfg: bool = False
    safeseh: bool | None = None
    signed: bool = False
    version_info: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def is_program(self) -> bool:
        """An executable (PIE or not), as opposed to a shared library."""
        return self.type in ("exec", "pie", "exe")

    def missing(self) -> list[str]:
        """The protections this binary lacks, by checksec's column names."""
        out: list[str] = []
        if self.format == "ELF":
            if self.type == "exec":
                out.append("PIE")
            if not self.nx:
                out.append("NX")
            if self.relro == "none":
                out.append("RELRO")
            if not self.canary:
                out.append("Canary")
            if not self.fortify:
                out.append("FORTIFY")
        else:
            if not self.aslr:
                out.append("ASLR")
            if not self.dep:
                out.append("DEP")
        return out

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": self.format, "type": self.type, "machine": self.machine}
        if self.format == "ELF":
            d.update(
                pie=self.pie,
                nx=self.nx,
                relro=self.relro,
                canary=self.canary,
                fortify=self.fortify,
                rpath=self.rpath,
                runpath=self.runpath,
                unsafe_paths=list(self.unsafe_paths),
                stripped=self.stripped,
                static=self.static,
                setuid=self.setuid,
                setgid=self.setgid,
            )
        else:
            d.update(
                aslr=self.aslr,
                high_entropy_va=self.high_entropy_va,
                dep=self.dep,
                cfg=self.cfg,
                safeseh=self.safeseh,
                signed=self.signed,
                version_info=dict(self.version_info),
            )
        return d


# --- checks -------------------------------------------------------------------------------

LACKS_HARDENING = Check(
    "HS-BIN-001",
    Severity.LOW,
    "Binary lacks hardening",
    "Build with the distribution's hardening flags: -fstack-protector-strong "
    "-D_FORTIFY_SOURCE=2 -O2 -fPIE -pie -Wl,-z,relro,-z,now, and without -z execstack.",
    description="An ELF executable lacks PIE, or an executable or shared library lacks NX "
    "or RELRO (names as in checksec; a missing stack canary or FORTIFY_SOURCE is listed "
    "too). HIGH for setuid/setgid binaries, MEDIUM when an executable has an executable "
    "stack, LOW otherwise.",
)
UNSAFE_RPATH = Check(
    "HS-BIN-002",
    Severity.MEDIUM,
    "Binary loads libraries from a relative or writable path",
    "Link without -rpath, or with absolute root-owned directories or $ORIGIN-relative ones.",
    description="The RPATH/RUNPATH of an ELF binary lists an empty, relative or "
    "world-writable directory: whoever controls the working directory (or /tmp) can make "
    "it load their library.",
)
PE_LACKS_HARDENING = Check(
    "HS-BIN-003",
    Severity.LOW,
    "Windows binary lacks ASLR or DEP",
    "Link with /DYNAMICBASE and /NXCOMPAT (the defaults of current MSVC and .NET toolchains).",
    description="A PE image does not opt into ASLR (DYNAMICBASE) or DEP (NX_COMPAT). MEDIUM "
    "without DEP, LOW without ASLR only.",
)

HARDENING_CHECKS = Catalogue()
HARDENING_CHECKS.add(LACKS_HARDENING, UNSAFE_RPATH, PE_LACKS_HARDENING)


# --- reading ------------------------------------------------------------------------------


def _scan_strings(f: IO[bytes], offset: int, size: int, length: int) -> tuple[bool, bool]:
    """Search a string table for canary and FORTIFY names: (canary, fortify)."""
    size = max(0, min(size, length - offset))
    canary = fortify = False
    f.seek(offset)
    tail = b""
    while size > 0 and not (canary and fortify):
        chunk = f.read(min(_CHUNK, size))
        if not chunk:
            break
        size -= len(chunk)
        buf = tail + chunk
        canary = canary or _CANARY.search(buf) is not None
        fortify = fortify or _FORTIFY.search(buf) is not None
        tail = buf[-_OVERLAP:]
    return canary, fortify


def unsafe_search_paths(value: str) -> list[str]:
    """Entries of an RPATH/RUNPATH that are empty, relative or world-writable."""
    if not value:
        return []
    out = []
    for entry in value.split(":"):
        if entry.startswith(("$ORIGIN", "${ORIGIN}")):
            continue
        if not entry.startswith("/"):
            out.append(entry or "(empty)")
        elif any(entry == d or entry.startswith(d + "/") for d in _WRITABLE_DIRS):
            out.append(entry)
    return out


def _vaddr_to_offset(loads: list[tuple[int, int, int]], addr: int) -> int | None:
    for vaddr, offset, filesz in loads:
        if vaddr <= addr < vaddr + filesz:
            return offset + addr - vaddr
    return None


def inspect_elf(f: IO[bytes], info: FileInfo) -> BinaryInfo:
    """The properties of the (seekable) ELF file ``f``."""
    # pyelftools and pefile are imported where a binary is read, not with the module:
    # they are a tenth of a second of start-up that scans without binaries do not need
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSegment
    from elftools.elf.elffile import ELFFile

    errors: tuple[type[Exception], ...] = (ELFError, *_ELF_ERRORS)
    try:
        elf = ELFFile(f)
        length = int(elf.stream_len)
        if elf.num_sections() > MAX_SECTIONS:
            raise AnalyzerInputError(f"ELF file has {elf.num_sections()} sections")
        e_type = str(elf["e_type"])
        interp = gnu_stack = relro_seg = False
        nx = False
        loads: list[tuple[int, int, int]] = []
        tags: dict[str, list[Any]] = {}
        rpath = runpath = ""
        for seg in elf.iter_segments():
            p_type = seg["p_type"]
            if p_type == "PT_INTERP":
                interp = True
            elif p_type == "PT_GNU_STACK":
                gnu_stack = True
                nx = not seg["p_flags"] & PF_X
            elif p_type == "PT_GNU_RELRO":
                relro_seg = True
            elif p_type == "PT_LOAD":
                loads.append((seg["p_vaddr"], seg["p_offset"], seg["p_filesz"]))
            elif isinstance(seg, DynamicSegment) and not tags:
                for tag in seg.iter_tags():
                    name = tag.entry.d_tag
                    # pyelftools decodes these through the dynamic string table
                    if name == "DT_RPATH":
                        rpath = str(getattr(tag, "rpath", ""))
                    elif name == "DT_RUNPATH":
                        runpath = str(getattr(tag, "runpath", ""))
                    tags.setdefault(str(name), []).append(tag.entry.d_val)
        flags = sum(tags.get("DT_FLAGS", []))
        flags_1 = sum(tags.get("DT_FLAGS_1", []))

        # symbol names: the string tables .dynsym and .symtab link to
        canary = fortify = False
        has_symtab = dynsym_seen = False
        for sec in elf.iter_sections():
            sh_type = sec["sh_type"]
            if sh_type not in ("SHT_SYMTAB", "SHT_DYNSYM"):
                continue
            has_symtab = has_symtab or sh_type == "SHT_SYMTAB"
            dynsym_seen = dynsym_seen or sh_type == "SHT_DYNSYM"
            strtab = elf.get_section(sec["sh_link"])
            if strtab["sh_type"] == "SHT_NOBITS":
                continue
            c, fo = _scan_strings(f, strtab["sh_offset"], strtab["sh_size"], length)
            canary, fortify = canary or c, fortify or fo
        if not dynsym_seen and "DT_STRTAB" in tags and "DT_STRSZ" in tags:
            # no section headers (sstrip): the loader's own view of the dynamic strings
            offset = _vaddr_to_offset(loads, tags["DT_STRTAB"][0])
            if offset is not None:
                c, fo = _scan_strings(f, offset, tags["DT_STRSZ"][0], length)
                canary, fortify = canary or c, fortify or fo
        machine = str(elf["e_machine"]).removeprefix("EM_")
    except errors as e:
        raise AnalyzerInputError(f"invalid ELF file: {e}") from None

    if e_type == "ET_EXEC":
        kind = "exec"
    elif e_type == "ET_DYN":
        pie = bool(flags_1 & DF_1_PIE) or "DT_DEBUG" in tags or (interp and "DT_SONAME" not in tags)
        kind = "pie" if pie else "dso"
    elif e_type == "ET_REL":
        kind = "rel"
    else:
        kind = "other"
    if not relro_seg:
        relro = "none"
    elif "DT_BIND_NOW" in tags or flags & DF_BIND_NOW or flags_1 & DF_1_NOW:
        relro = "full"
    else:
        relro = "partial"
    unsafe = unsafe_search_paths(rpath) + unsafe_search_paths(runpath)
    return BinaryInfo(
        format="ELF",
        type=kind,
        machine=machine,
        pie=kind == "pie",
        nx=gnu_stack and nx,
        relro=relro,
        canary=canary,
        fortify=fortify,
        rpath=rpath,
        runpath=runpath,
        unsafe_paths=tuple(dict.fromkeys(unsafe)),
        stripped=not has_symtab,
        static=not interp and "DT_NEEDED" not in tags,
        setuid=bool(info.mode & 0o4000),
        setgid=bool(info.mode & 0o2000),
    )


def _version_info(pe: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for group in getattr(pe, "FileInfo", None) or ():
        for entry in group:
            if getattr(entry, "Key", b"") != b"StringFileInfo":
                continue
            for table in getattr(entry, "StringTable", ()):
                for key, value in table.entries.items():
                    k = key.decode("utf-8", "replace") if isinstance(key, bytes) else str(key)
                    v = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
                    v = v.strip("\0 ").strip()
                    if k in VERSION_KEYS and v and k not in out:
                        out[k] = v[:MAX_VERSION_VALUE]
    return out


def inspect_pe(path: str) -> BinaryInfo:
    """The properties of the PE file at ``path`` (a spooled copy)."""
    import pefile  # type: ignore[import-untyped]

    try:
        pe = pefile.PE(path, fast_load=True)
    except (pefile.PEFormatError, struct.error, ValueError, OSError) as e:
        raise AnalyzerInputError(f"invalid PE file: {e}") from None
    try:
        oh = pe.OPTIONAL_HEADER
        chars = int(oh.DllCharacteristics)
        is64 = oh.Magic == PE32_PLUS
        machine_id = int(pe.FILE_HEADER.Machine)
        dirs = oh.DATA_DIRECTORY
        security = pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]
        signed = (
            len(dirs) > security and dirs[security].VirtualAddress != 0 and dirs[security].Size != 0
        )
        # a damaged optional directory costs its properties, not the headers (pefile
        # raises AttributeError on a load-config directory too short for its version)
        with contextlib.suppress(
            pefile.PEFormatError, struct.error, ValueError, IndexError, KeyError, AttributeError
        ):
            pe.parse_data_directories(
                directories=[
                    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_RESOURCE"],
                    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_LOAD_CONFIG"],
                ]
            )
        safeseh: bool | None = None
        if machine_id == MACHINE_I386:
            load_config = getattr(pe, "DIRECTORY_ENTRY_LOAD_CONFIG", None)
            table = getattr(getattr(load_config, "struct", None), "SEHandlerTable", 0)
            count = getattr(getattr(load_config, "struct", None), "SEHandlerCount", 0)
            safeseh = bool(chars & NO_SEH) or bool(table and count)
        version_info = _version_info(pe)
        machine = pefile.MACHINE_TYPE.get(machine_id, hex(machine_id))
    finally:
        pe.close()
    return BinaryInfo(
        format="PE",
        type="dll" if pe.FILE_HEADER.Characteristics & IMAGE_FILE_DLL else "exe",
        machine=str(machine).removeprefix("IMAGE_FILE_MACHINE_"),
        aslr=bool(chars & DYNAMIC_BASE),
        high_entropy_va=bool(chars & HIGH_ENTROPY_VA) if is64 else None,
        dep=bool(chars & NX_COMPAT),
        cfg=bool(chars & GUARD_CF),
        safeseh=safeseh,
        signed=bool(signed),
        version_info=version_info,
    )


def pe_header_at(head: bytes) -> int | None:
    """e_lfanew when ``head`` starts with an MZ stub, else None."""
    if len(head) < 0x40 or not head.startswith(MZ_MAGIC):
        return None
    (lfanew,) = struct.unpack_from("<I", head, 0x3C)
    return lfanew if 0x40 <= lfanew <= MAX_PE_OFFSET else None


def inspect_binary(stream: IO[bytes], info: FileInfo) -> BinaryInfo | None:
    """Read ``stream`` (sequential, at most ``info.size`` bytes); None unless ELF or PE."""
    head = stream.read(0x40)
    if head.startswith(ELF_MAGIC):
        with spool(cast(IO[bytes], PrefixedStream(head, stream)), limit=info.size) as f:
            return inspect_elf(f, info)
    pe_head = read_pe_head(head, stream)
    if pe_head is None:
        return None
    with spool_to_path(cast(IO[bytes], PrefixedStream(pe_head, stream)), limit=info.size) as p:
        return inspect_pe(p)


def read_pe_head(head: bytes, stream: IO[bytes]) -> bytes | None:
    """``head`` extended through the PE signature when the file is a PE image, else None."""
    lfanew = pe_header_at(head)
    if lfanew is None:
        return None
    head += stream.read(lfanew + 4 - len(head))
    return head if head[lfanew : lfanew + 4] == PE_SIGNATURE else None


# --- findings -----------------------------------------------------------------------------


def findings_for(b: BinaryInfo, path: str | None = None) -> list[Finding]:
    """HS-BIN-001/002/003 for one binary; none when it has every protection."""
    details = b.to_dict()
    missing = b.missing()
    out: list[Finding] = []
    if b.format == "ELF":
        if b.type not in ("exec", "pie", "dso"):
            return []  # relocatable objects, core files: mitigations do not apply
        if any(m in missing for m in ELF_TRIGGERS):
            if b.setuid or b.setgid:
                severity = Severity.HIGH
            elif b.is_program and not b.nx:
                severity = Severity.MEDIUM
            else:
                severity = Severity.LOW
            mode = " (setuid)" if b.setuid else " (setgid)" if b.setgid else ""
            out.append(
                LACKS_HARDENING.finding(
                    f"{b.type} ELF{mode} without {', '.join(missing)}",
                    path=path,
                    severity=severity,
                    details={**details, "missing": missing},
                )
            )
        if b.unsafe_paths:
            which = "RPATH" if b.rpath else "RUNPATH"
            out.append(
                UNSAFE_RPATH.finding(
                    f"{which} {b.rpath or b.runpath} (unsafe: {', '.join(b.unsafe_paths)})",
                    path=path,
                    details={**details, "missing": missing},
                )
            )
    elif missing:
        severity = Severity.MEDIUM if "DEP" in missing else Severity.LOW
        out.append(
            PE_LACKS_HARDENING.finding(
                f"{b.type.upper()} without {', '.join(missing)}",
                path=path,
                severity=severity,
                details={**details, "missing": missing},
            )
        )
    return [_as_binary(f) for f in out]


def _as_binary(f: Finding) -> Finding:
    return replace(f, kind=FindingKind.BINARY)


class HardeningAnalyzer(Analyzer):
    """Findings for ELF and PE binaries that lack exploit mitigations."""

    name = "binary-hardening"
    version = 2
    max_size = 512 * MiB

    def required(self, path: str, info: FileInfo) -> bool:
        if not info.is_regular or not 64 < info.size <= self.max_size:
            return False
        return info.is_executable or _SHARED_OR_WINDOWS.search(path.rsplit("/", 1)[-1]) is not None

    def analyze(self, path: str, info: FileInfo, stream: IO[bytes]) -> AnalyzerResult | None:
        head = stream.read(4)
        kind = _other_kind(head, stream)
        if kind is not None:
            # not ELF/PE: still counted in the image's census of executables
            return AnalyzerResult(facts={"kind": kind}) if info.is_executable else None
        binary = inspect_binary(cast(IO[bytes], PrefixedStream(head, stream)), info)
        if binary is None:
            return AnalyzerResult(facts={"kind": "other"}) if info.is_executable else None
        # the full record for every binary feeds the per-image hardening table
        return AnalyzerResult(
            findings=findings_for(binary, path),
            facts={"kind": binary.format.lower(), "binary": binary.to_dict()},
        )


#: Mach-O (thin and fat) magic numbers
_MACHO = (
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)


def _other_kind(head: bytes, stream: IO[bytes]) -> str | None:
    """``macho``, ``script:<interpreter>``, or None when the file may be ELF or PE."""
    if head.startswith(_MACHO):
        return "macho"
    if head.startswith(b"#!"):
        line = (head + stream.read(126)).split(b"\n", 1)[0][2:].strip()
        words = line.decode("utf-8", "replace").split()
        interpreter = words[0].rsplit("/", 1)[-1] if words else ""
        if interpreter == "env" and len(words) > 1:
            interpreter = words[1]
        return f"script:{interpreter}"
    return None
