"""`make demo`: kcm add against the embedded AWS, into a commented kubeconfig, in a temp dir.

Never reads or writes the user's ~/.aws or ~/.kube: HOME and every AWS/kube variable point into a
temporary directory that is removed at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded_aws import embedded_aws

KCM = str(Path(sys.executable).with_name("kcm"))
HAND_WRITTEN = """# My kubeconfig: kcm keeps every comment, and the layout, of this file.
apiVersion: v1
kind: Config
clusters:
  - name: staging          # an old cluster, added by hand
    cluster: {server: "https://staging.example.com"}
contexts:
  - name: staging
    context: {cluster: staging, user: staging, namespace: web}
users:
  - name: staging
    user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: aws, args: [eks, get-token]}}
current-context: staging
"""


def step(title: str, *args: str, env: dict[str, str]) -> None:
    print(f"\n$ kcm {' '.join(args)}    # {title}", flush=True)
    subprocess.run([KCM, *args], env=env, check=True)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="kcm-demo-") as folder, embedded_aws() as url:
        home = Path(folder)
        (home / ".aws").mkdir()
        (home / ".aws" / "config").write_text("[profile eks-admin]\nregion = eu-west-1\n")
        (home / ".aws" / "credentials").write_text(
            "[eks-admin]\naws_access_key_id = demo\naws_secret_access_key = demo\n"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KUBE", "XDG_"))}
        env.update(
            HOME=str(home),
            XDG_STATE_HOME=str(home / "state"),
            AWS_CONFIG_FILE=str(home / ".aws" / "config"),
            AWS_SHARED_CREDENTIALS_FILE=str(home / ".aws" / "credentials"),
            AWS_ENDPOINT_URL=url,
            AWS_EC2_METADATA_DISABLED="true",
        )
        import boto3

        eks = boto3.client(
            "eks",
            region_name="eu-west-1",
            endpoint_url=url,
            aws_access_key_id="demo",
            aws_secret_access_key="demo",
        )
        eks.create_cluster(name="payments-prod", roleArn="arn:aws:iam::123456789012:role/eks",
                           resourcesVpcConfig={"subnetIds": []})  # fmt: skip
        config = home / ".kube" / "config"
        config.parent.mkdir()
        config.write_text(HAND_WRITTEN)
        print(f"embedded AWS (moto_server) at {url}; one EKS cluster, payments-prod, in eu-west-1")
        step("the only cluster of the profile: no name needed", "add", "--alias", "prod",
             "--profile", "eks-admin", env=env)  # fmt: skip
        before = config.stat()
        step("the same again: nothing changes, nothing is rewritten", "add", "--alias", "prod",
             "--profile", "eks-admin", env=env)  # fmt: skip
        after = config.stat()
        same = (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
        print(f"(file {'not rewritten: same inode and mtime' if same else 'REWRITTEN'})")
        print(f"\n$ cat ~/.kube/config    # mode {config.stat().st_mode & 0o777:o}\n")
        for line in config.read_text().splitlines():  # long CA data shortened for the screen
            print(line if len(line) <= 100 else line[:96] + " ...")
        if (
            subprocess.run(["kubectl", "version", "--client"], capture_output=True, check=False).returncode
            == 0
        ):
            print("$ kubectl config get-contexts")
            subprocess.run(["kubectl", "config", "get-contexts"], env=env, check=False)
        step("put the file back as it was", "undo", env=env)
        print("\n(temporary HOME and embedded AWS removed)")


if __name__ == "__main__":
    main()
