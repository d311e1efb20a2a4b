"""`make demo`: the main job, `kcm sync --all-accounts`, against a small organisation in the embedded AWS.

Never reads or writes the user's ~/.aws or ~/.kube: HOME and every AWS, kube and XDG variable point
into a temporary directory that is removed at the end, with the embedded AWS.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded_aws import embedded_aws

KCM = str(Path(sys.executable).with_name("kcm"))
# account -> (profile, {region: clusters})
ORGANISATION = {
    "111111111111": (
        "payments-admin",
        {"eu-west-1": ["payments-prod", "payments-staging"], "us-east-1": ["payments-dr"]},
    ),
    "222222222222": ("search-admin", {"us-west-2": ["search"], "ap-southeast-2": ["search-apac"]}),
    "333333333333": ("data-admin", {"eu-central-1": ["lake"], "eu-west-1": ["etl"]}),
}  # fmt: skip
HAND_WRITTEN = """# My kubeconfig: kcm keeps every comment, and the layout, of this file.
apiVersion: v1
kind: Config
clusters:
- name: on-prem          # the rack in the basement
  cluster: {server: "https://k8s.example.internal:6443"}
contexts:
- name: on-prem
  context: {cluster: on-prem, user: me, namespace: ops}
users:
- name: me
  user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: my-sso-helper}}
current-context: on-prem
"""


def step(title: str, *args: str, env: dict[str, str], check: bool = True) -> None:
    print(f"\n$ kcm {' '.join(args)}    # {title}", flush=True)
    subprocess.run([KCM, *args], env=env, check=check)


def organisation(url: str) -> None:
    """Each account's clusters, created the way kcm reaches them: AssumeRole into the account."""
    import boto3

    keys = {"aws_access_key_id": "demo", "aws_secret_access_key": "demo"}
    sts = boto3.client("sts", region_name="us-east-1", endpoint_url=url, **keys)
    for account, (_, regions) in ORGANISATION.items():
        role = f"arn:aws:iam::{account}:role/EKSAdmin"
        creds = sts.assume_role(RoleArn=role, RoleSessionName="demo")["Credentials"]
        for region, names in regions.items():
            eks = eks_client(url, region, creds)
            for name in names:
                eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks",
                                   resourcesVpcConfig={"subnetIds": []})  # fmt: skip


def eks_client(url: str, region: str, creds: dict[str, Any]) -> Any:
    import boto3

    return boto3.client(
        "eks",
        region_name=region,
        endpoint_url=url,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def aws_config(home: Path) -> str:
    text = "[profile sso-base]\nregion = eu-west-1\n"
    for account, (profile, _) in ORGANISATION.items():
        role = f"arn:aws:iam::{account}:role/EKSAdmin"
        text += f"\n[profile {profile}]\nrole_arn = {role}\nsource_profile = sso-base\n"
    (home / ".aws").mkdir()
    (home / ".aws" / "config").write_text(text)
    (home / ".aws" / "credentials").write_text(
        "[sso-base]\naws_access_key_id = demo\naws_secret_access_key = demo\n"
    )
    return text


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kcm-demo-") as folder, embedded_aws() as url:
        home = Path(folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE", "XDG_"))}
        env.update(
            HOME=str(home),
            XDG_STATE_HOME=str(home / "state"),
            XDG_CACHE_HOME=str(home / "cache"),
            XDG_CONFIG_HOME=str(home / "config"),
            AWS_CONFIG_FILE=str(home / ".aws" / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
            AWS_ENDPOINT_URL=url,
            AWS_EC2_METADATA_DISABLED="true",
        )
        organisation(url)
        total = sum(len(names) for _, regions in ORGANISATION.values() for names in regions.values())
        print(f"embedded AWS (moto_server) at {url}: {len(ORGANISATION)} accounts, {total} EKS clusters")
        print("\n$ cat ~/.aws/config    # one role profile per account, from one set of base keys")
        print(aws_config(home), end="")
        config = home / ".kube" / "config"
        config.parent.mkdir()
        config.write_text(HAND_WRITTEN)

        step("what would change? (writes nothing)", "sync", "--all-accounts", "--dry-run", env=env)
        step("every cluster, every account, every enabled region", "sync", "--all-accounts", env=env)
        step("kubectl's view, with account and region", "list", env=env)
        before = config.stat()
        step("again: nothing changed on AWS, so no byte changes", "sync", "--all-accounts", env=env)
        after = config.stat()
        same = (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
        print(f"(file {'not rewritten: same inode and mtime' if same else 'REWRITTEN'})")

        creds = _assume(url, "111111111111")
        eks_client(url, "eu-west-1", creds).delete_cluster(name="payments-staging")
        print("\n(payments-staging deleted on AWS)")
        step("remove what kcm wrote for clusters that are gone", "sync", "--all-accounts", "--prune", env=env)

        print(f"\n$ head -20 ~/.kube/config    # mode {config.stat().st_mode & 0o777:o}; comments kept\n")
        for line in config.read_text().splitlines()[:20]:  # long CA data shortened for the screen
            print(line if len(line) <= 100 else line[:96] + " ...")
        print("\n(temporary HOME and embedded AWS removed)")


def _assume(url: str, account: str) -> dict[str, Any]:
    import boto3

    sts = boto3.client(
        "sts",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )
    role = f"arn:aws:iam::{account}:role/EKSAdmin"
    creds: dict[str, Any] = sts.assume_role(RoleArn=role, RoleSessionName="demo")["Credentials"]
    return creds


if __name__ == "__main__":
    main()
