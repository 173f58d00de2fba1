"""DVC remotes round trip: push from one clone, pull into a fresh clone, byte-identical corpus and card."""

import getpass
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CORPUS = ["data/synthetic/rephrase/records.jsonl", "data/synthetic/rephrase/CARD.md"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


def push_clone_pull(repo: Path, remote_args: list[str], sh, tmp_path: Path, local_config=(), env=None) -> Path:
    sh.run([sh.dvc, "remote", "add", "-d", *remote_args], repo)
    for args in local_config:
        sh.run([sh.dvc, "remote", "modify", "--local", *args], repo)
    sh.commit(repo, "add remote")
    sh.run([sh.dvc, "push"], repo, env=env)
    clone = tmp_path / "clone"
    sh.run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    for args in local_config:
        sh.run([sh.dvc, "remote", "modify", "--local", *args], clone)
    assert not (clone / CORPUS[0]).exists()
    sh.run([sh.dvc, "pull", "postprocess"], clone, env=env)
    for rel in CORPUS:
        assert (clone / rel).read_bytes() == (repo / rel).read_bytes(), rel
    status = sh.run([sh.dvc, "status"], clone)
    assert "up to date" in status
    return clone


def test_local_remote_round_trip(toy_repo, sh, tmp_path):
    push_clone_pull(toy_repo, ["local", str(tmp_path / "remote")], sh, tmp_path)


@pytest.mark.slow
def test_ssh_remote_round_trip_against_real_sshd(toy_repo, sh, tmp_path):
    sshd = Path("/usr/sbin/sshd")
    if not sshd.exists():
        pytest.fail("sshd not installed: run `make install-test` (installs Debian's openssh-server)")
    keys = tmp_path / "keys"
    keys.mkdir()
    sh.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "host")], tmp_path)
    sh.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / "client")], tmp_path)
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    port = free_port()
    config = tmp_path / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\nPidFile {tmp_path / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {keys / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nUsePAM no\nStrictModes no\nSubsystem sftp internal-sftp\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True) if os.geteuid() == 0 else None
    proc = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc)
        url = f"ssh://{getpass.getuser()}@127.0.0.1:{port}{tmp_path / 'ssh-remote'}"
        push_clone_pull(toy_repo, ["team", url], sh, tmp_path, local_config=[("team", "keyfile", str(keys / "client"))])
        assert any((tmp_path / "ssh-remote").rglob("*")), "nothing arrived on the SSH remote"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_s3_remote_round_trip_against_local_s3_server(toy_repo, sh, tmp_path):
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", str(port)], stderr=subprocess.PIPE, text=True,
                            stdout=subprocess.DEVNULL)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    try:
        wait_for_port(port, proc)
        import boto3

        boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(Bucket="corpora")
        # Credentials come only from the environment; the endpoint is the only committed setting besides the URL.
        sh.run([sh.dvc, "remote", "add", "-d", "s3", "s3://corpora/clinsynth"], toy_repo)
        sh.run([sh.dvc, "remote", "modify", "s3", "endpointurl", f"http://127.0.0.1:{port}"], toy_repo)
        sh.commit(toy_repo, "s3 remote")
        sh.run([sh.dvc, "push"], toy_repo, env=env)
        clone = tmp_path / "clone"
        sh.run(["git", "clone", "-q", str(toy_repo), str(clone)], tmp_path)
        sh.run([sh.dvc, "pull"], clone, env=env)
        for rel in CORPUS:
            assert (clone / rel).read_bytes() == (toy_repo / rel).read_bytes(), rel
    finally:
        proc.terminate()
        proc.wait(timeout=10)
