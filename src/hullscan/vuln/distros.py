"""Which OSV ecosystems speak for an image's distribution release, from its os-release.

OSV names distribution data per release, each in its own way: ``Debian:12``,
``Ubuntu:22.04:LTS`` (and ``Ubuntu:Pro:22.04:LTS``, Ubuntu Pro's ESM pockets, which
only hosts attached to Pro receive: never matched), ``Alpine:v3.20``, ``AlmaLinux:9``,
``Rocky Linux:9``, ``Red Hat:enterprise_linux:9::appstream`` (one ecosystem per Red
Hat repository, named after its CPE), ``SUSE:Linux Enterprise Server 15 SP6``,
``openSUSE:Leap 15.6``, ``openSUSE:Tumbleweed``, ``Wolfi``, ``Chainguard`` and
``Azure Linux:3``.

Debian, Ubuntu, Alpine, Wolfi, Chainguard and Azure Linux name source packages
(apk origins, spec names); Red Hat, AlmaLinux, Rocky and SUSE list the binary rpms
each update ships, so their packages are looked up by binary name (a source name
there could meet another binary of that name: ``demo`` is not ``libdemo``).
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
    #: advisories name binary packages, not source packages
    binary_names: bool = False

    @property
    def scheme(self) -> str:
        """The ecosystem whose version rules apply."""
        return (self.ecosystems or self.prefixes)[0]


def _major(version: str) -> str:
    return version.split(".")[0]


def _suse(version: str) -> tuple[str, ...]:
    major, _, sp = version.partition(".")
    release = f"{major} SP{sp}" if sp and sp != "0" else major
    return (
        f"SUSE:Linux Enterprise Server {release}",
        f"SUSE:Linux Enterprise Module for Basesystem {release}",
    )


def distro_for(os_info: OSInfo | None) -> Distro | None:
    """The OSV data for an image's distribution release; None if OSV has none for it
    (or the release is unknown, as on Debian testing/sid)."""
    if os_info is None:
        return None
    v, osid = os_info.version_id, os_info.id
    if osid in ("wolfi", "chainguard"):  # rolling: one ecosystem, no release
        return Distro((osid.capitalize(),))
    if osid == "opensuse-tumbleweed":
        return Distro(("openSUSE:Tumbleweed",), binary_names=True)
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
            return Distro(
                (f"Red Hat:enterprise_linux:{major}",),
                prefixes=(f"Red Hat:enterprise_linux:{major}::",),
                binary_names=True,
            )
        case "almalinux":
            return Distro((f"AlmaLinux:{major}",), binary_names=True)
        case "rocky":
            return Distro((f"Rocky Linux:{major}",), binary_names=True)
        case "sles" | "sle_bci" | "sle-bci":
            return Distro(_suse(v), binary_names=True)
        case "opensuse-leap":
            return Distro((f"openSUSE:Leap {v}",), binary_names=True)
        case "azurelinux":
            return Distro((f"Azure Linux:{major}",))
        case "mariner":  # CBL-Mariner 2.0, now published as Azure Linux
            return Distro((f"Azure Linux:{major}", f"Mariner:{v}"))
    return None


def os_ecosystems(os_info: OSInfo | None) -> tuple[str, ...]:
    """The exact OSV ecosystem strings for the image's release (prefixes aside)."""
    d = distro_for(os_info)
    return d.ecosystems if d else ()
