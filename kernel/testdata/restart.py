"""Runs cells in a govalent kernel that Jupyter's KernelManager starts, restarts and shuts down, as a notebook
server does. argv[1] is a JSON list of steps: {"cell": CODE}, {"restart": "graceful"} (a shutdown_request with
restart), {"restart": "kill"} (the process killed), {"shutdown": true}. Prints a JSON line per cell."""
import json
import sys

from jupyter_client.manager import KernelManager

km = KernelManager(kernel_name="govalent")
km.start_kernel()
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=60)


def run(code):
    out = []

    def hook(msg):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            out.append(content["ename"] + ": " + content["evalue"])
        elif kind == "execute_result":
            out.append(content["data"].get("text/plain", ""))

    reply = kc.execute_interactive(code, output_hook=hook, timeout=600)
    print(json.dumps({"cell": code, "status": reply["content"]["status"], "out": "".join(out)}), flush=True)


for step in json.loads(sys.argv[1]):
    if "cell" in step:
        run(step["cell"])
    elif "restart" in step:
        km.restart_kernel(now=step["restart"] == "kill")
        kc.wait_for_ready(timeout=60)
    elif "shutdown" in step:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
