"""A throwaway PKI for the local control plane, made with the `openssl` command-line tool.

One CA signs the API server's serving certificate and every client certificate (admin,
controller-manager, named test users); a separate key pair signs service-account tokens.
Part of netiso_devkit.localcluster; uses the openssl CLI so Python gains no crypto dependency.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

CA_NAME: Final = "netiso-local-ca"
# Certificates live as long as a test session or a `netiso cluster up`; a year is plenty.
_DAYS: Final = "365"
# Kubernetes usernames and groups we put into a certificate subject; '/' and ',' would need
# escaping in openssl's -subj syntax, and nobody needs them for test users.
_SUBJECT_PART = re.compile(r"^[A-Za-z0-9:._@+-]+$")


class CertificateError(RuntimeError):
    """openssl is missing or refused to make a key or certificate."""


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its PEM private key on disk."""

    certificate: Path
    key: Path


class CertificateAuthority:
    """Issues certificates under one directory; creating it makes the CA key and certificate."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.ca = KeyPair(certificate=directory / "ca.crt", key=directory / "ca.key")
        if not self.ca.certificate.exists():
            _openssl(
                "req", "-x509", "-new", "-nodes", *_EC_KEY,
                "-keyout", str(self.ca.key), "-out", str(self.ca.certificate),
                "-days", _DAYS, "-subj", f"/CN={CA_NAME}",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            )  # fmt: skip

    def issue_server(self, name: str, *, hosts: Sequence[str]) -> KeyPair:
        """A serving certificate valid for every DNS name or IP address in `hosts`."""
        alt_names = ",".join(
            f"IP:{host}" if _looks_like_ip(host) else f"DNS:{host}" for host in hosts
        )
        return self._issue(
            name,
            subject=f"/CN={_checked(name)}",
            extensions=(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                f"subjectAltName={alt_names}\n"
            ),
        )

    def issue_client(self, user: str, *, groups: Sequence[str] = ()) -> KeyPair:
        """A client certificate: Kubernetes reads the user from CN and the groups from O."""
        subject = f"/CN={_checked(user)}" + "".join(f"/O={_checked(g)}" for g in groups)
        return self._issue(
            _file_stem(subject),
            subject=subject,
            extensions=(
                "basicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=clientAuth\n"
            ),
        )

    def _issue(self, stem: str, *, subject: str, extensions: str) -> KeyPair:
        pair = KeyPair(
            certificate=self.directory / f"{stem}.crt", key=self.directory / f"{stem}.key"
        )
        request = self.directory / f"{stem}.csr"
        extfile = self.directory / f"{stem}.ext"
        extfile.write_text(extensions)
        _openssl(
            "req", "-new", "-nodes", *_EC_KEY, "-keyout", str(pair.key),
            "-out", str(request), "-subj", subject,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.ca.certificate),
            "-CAkey", str(self.ca.key), "-CAcreateserial", "-days", _DAYS,
            "-extfile", str(extfile), "-out", str(pair.certificate),
        )  # fmt: skip
        request.unlink()
        extfile.unlink()
        return pair


def make_service_account_keys(directory: Path) -> KeyPair:
    """An RSA key pair for signing service-account tokens; `certificate` holds the public key."""
    directory.mkdir(parents=True, exist_ok=True)
    pair = KeyPair(certificate=directory / "sa.pub", key=directory / "sa.key")
    if not pair.key.exists():
        _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                 "-out", str(pair.key))  # fmt: skip
        _openssl("pkey", "-in", str(pair.key), "-pubout", "-out", str(pair.certificate))
    return pair


# P-256 keys are generated in milliseconds, unlike RSA, and every Kubernetes component accepts them.
_EC_KEY: Final = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertificateError("`openssl` is not installed; run .ci/install-system-deps.sh")
    result = subprocess.run([openssl, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CertificateError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _checked(part: str) -> str:
    if not _SUBJECT_PART.match(part):
        raise CertificateError(
            f"{part!r}: user and group names may hold only letters, digits and ':._@+-'"
        )
    return part


def _file_stem(subject: str) -> str:
    # Readable yet unique per subject: the same user with other groups gets its own files.
    user = subject.split("/")[1].removeprefix("CN=")
    digest = hashlib.sha256(subject.encode()).hexdigest()[:8]
    return "client-" + re.sub(r"[^A-Za-z0-9._-]", "_", user) + "-" + digest


def _looks_like_ip(host: str) -> bool:
    return bool(re.match(r"^[0-9.]+$", host) or ":" in host)
