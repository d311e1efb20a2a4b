"""`kcm doctor`: walk the layers of the seeds' troubleshooting tables for one context and name the
broken one, with its fix.

Their triage order, one module per layer: is the kubeconfig what kubectl reads (config); does the exec
plugin run (plugin); am I who I think I am, with exactly the exec's environment (identity); do my
credentials mint a token (token); does the cluster exist as the file says (cluster); does the cluster
know me, access entries or aws-auth (access); does the API server accept me (apiserver). A layer that
fails ends the walk where the next ones could only fail for the same reason. What each layer found is
data (findings.Findings), for the next layers and for `--fix` (fix: the plan and the edit; repair: the
command as the user sees it).
"""

from kcm.commands.doctor.findings import Check, Findings
from kcm.commands.doctor.repair import run as repair
from kcm.commands.doctor.walk import as_json, examine, run

__all__ = ["Check", "Findings", "as_json", "examine", "repair", "run"]
