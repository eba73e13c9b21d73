"""Which OSV ecosystems speak for an image's distribution release, from its os-release.

OSV names distribution data per release, each in its own way: ``Debian:12``,
``Ubuntu:22.04:LTS`` (and ``Ubuntu:Pro:22.04:LTS``, Ubuntu Pro's ESM pockets, which
only hosts attached to Pro receive: never matched), ``Alpine:v3.20``, ``AlmaLinux:9``,
``Rocky Linux:9``, ``Red Hat:enterprise_linux:9::appstream`` (one ecosystem per Red
Hat repository, named after its CPE), ``SUSE:Linux Enterprise Server 15 SP6``,
``openSUSE:Leap 15.6``, ``openSUSE:Tumbleweed``, ``Wolfi``, ``Chainguard`` and
``Azure Linux:3``.

Debian, Ubuntu and Alpine name source packages; the rpm distributions, Wolfi and
Chainguard name the binary packages their advisories list, so those are looked up
under both names.
"""

from __future__ import annotations

from dataclasses import dataclass

from hullscan.model import OSInfo


@dataclass(frozen=True)
class Distro:
    #: exact OSV ecosystem strings
    ecosystems: tuple[str, ...]
    #: ecosystems beginning with one of these apply too (Red Hat's repositories)
    prefixes: tuple[str, ...] = ()
    #: look binary package names up as well as source names
    by_binary: bool = False

    @property
    def scheme(self) -> str:
        """The ecosystem whose version rules apply."""
        return (self.ecosystems or self.prefixes)[0]


def _major(version: str) -> str:
    return version.split(".")[0]


def _suse(version: str) -> tuple[str, ...]:
    major, _, sp = version.partition(".")
    release = f"{major} SP{sp}" if sp and sp != "0" else major
    return (f"SUSE:Linux Enterprise Server {release}",
            f"SUSE:Linux Enterprise Module for Basesystem {release}")


def distro_for(os_info: OSInfo | None) -> Distro | None:
    """The OSV data for an image's distribution release; None if OSV has none for it
    (or the release is unknown, as on Debian testing/sid)."""
    if os_info is None:
        return None
    v, osid = os_info.version_id, os_info.id
    if osid in ("wolfi", "chainguard"):  # rolling: one ecosystem, no release
        return Distro((osid.capitalize(),), by_binary=True)
    if osid == "opensuse-tumbleweed":
        return Distro(("openSUSE:Tumbleweed",), by_binary=True)
    if not v:
        return None
    major = _major(v)
    match osid:
        case "debian":
            return Distro((f"Debian:{major}",))
        case "ubuntu":
            return Distro((f"Ubuntu:{v}", f"Ubuntu:{v}:LTS"))
        case "alpine":
            return Distro((f"Alpine:v{'.'.join(v.split('.')[:2])}",))
        case "rhel":  # UBI images too
            return Distro((f"Red Hat:enterprise_linux:{major}",),
                          prefixes=(f"Red Hat:enterprise_linux:{major}::",), by_binary=True)
        case "almalinux":
            return Distro((f"AlmaLinux:{major}",), by_binary=True)
        case "rocky":
            return Distro((f"Rocky Linux:{major}",), by_binary=True)
        case "sles" | "sle_bci" | "sle-bci":
            return Distro(_suse(v), by_binary=True)
        case "opensuse-leap":
            return Distro((f"openSUSE:Leap {v}",), by_binary=True)
        case "azurelinux":
            return Distro((f"Azure Linux:{major}",), by_binary=True)
        case "mariner":  # CBL-Mariner 2.0, now published as Azure Linux
            return Distro((f"Azure Linux:{major}", f"Mariner:{v}"), by_binary=True)
    return None


def os_ecosystems(os_info: OSInfo | None) -> tuple[str, ...]:
    """The exact OSV ecosystem strings for the image's release (prefixes aside)."""
    d = distro_for(os_info)
    return d.ecosystems if d else ()
