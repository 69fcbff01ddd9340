"""PyTorch reference trajectories for notebooks/02-optim/01-gd-to-adamw.ipynb.

Runs torch.optim.SGD (plain, heavy-ball momentum, Nesterov), Adam and AdamW on two
2-D test functions, in float32, and writes every iterate to optim_torch.json beside
this file (or to the path given as the first argument). The gradients are the closed
forms below, computed with float32 torch ops, so that the only thing compared with
gradlab is the optimiser's update.

    /usr/bin/python3 notebooks/02-optim/reference/torch_optim.py        # rewrite the JSON
    /usr/bin/python3 notebooks/02-optim/reference/torch_optim.py OUT    # write OUT instead

test/notebooks-02-reference.test.ts reruns it and checks that the committed JSON is
what it produces, so the numbers in the notebook cannot drift from PyTorch's.
"""
import json
import math
import os
import sys

import torch

STEPS = 30
A, B = 1.0, 20.0  # the ravine f = (A x^2 + B y^2)/2: condition number B/A = 20
# Optimal heavy-ball parameters for this quadratic (Polyak 1964), in PyTorch's form
# v = mu v + g, p -= lr v:  lr = 4/(sqrt(L) + sqrt(m))^2, mu = ((sqrt(k) - 1)/(sqrt(k) + 1))^2.
HB_LR = 4.0 / (math.sqrt(B) + math.sqrt(A)) ** 2
HB_MU = ((math.sqrt(B / A) - 1.0) / (math.sqrt(B / A) + 1.0)) ** 2
# Nesterov's usual parameters for a strongly convex quadratic: lr = 1/L, mu = (sqrt(k) - 1)/(sqrt(k) + 1).
NAG_LR = 1.0 / B
NAG_MU = (math.sqrt(B / A) - 1.0) / (math.sqrt(B / A) + 1.0)


def ravine_grad(p):
    return p * torch.tensor([A, B], dtype=torch.float32)


def rosenbrock_grad(p):
    x, y = p[0], p[1]
    gx = -2.0 * (1.0 - x) - 400.0 * x * (y - x * x)
    gy = 200.0 * (y - x * x)
    return torch.stack([gx, gy])


SURFACES = {
    "ravine": {"grad": ravine_grad, "x0": [-4.0, 1.0]},
    "rosenbrock": {"grad": rosenbrock_grad, "x0": [-1.2, 1.0]},
}

# name -> (constructor, options as gradlab spells them), per surface.
CONFIGS = {
    "ravine": {
        "SGD": {"lr": 2.0 / (A + B)},
        "momentum": {"lr": HB_LR, "momentum": HB_MU},
        "nesterov": {"lr": NAG_LR, "momentum": NAG_MU, "nesterov": True},
        "Adam": {"lr": 0.1},
        "AdamW": {"lr": 0.1, "weightDecay": 0.1},
    },
    "rosenbrock": {
        "SGD": {"lr": 1e-3},
        "momentum": {"lr": 1e-3, "momentum": 0.9},
        "nesterov": {"lr": 1e-3, "momentum": 0.9, "nesterov": True},
        "Adam": {"lr": 0.05},
        "AdamW": {"lr": 0.05, "weightDecay": 0.1},
    },
}


def make(name, params, o):
    if name in ("SGD", "momentum", "nesterov"):
        return torch.optim.SGD(params, lr=o["lr"], momentum=o.get("momentum", 0.0), nesterov=o.get("nesterov", False))
    if name == "Adam":
        return torch.optim.Adam(params, lr=o["lr"])
    return torch.optim.AdamW(params, lr=o["lr"], weight_decay=o["weightDecay"])


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "optim_torch.json")
    torch.manual_seed(0)
    runs = []
    for surface, s in SURFACES.items():
        for name, o in CONFIGS[surface].items():
            p = torch.tensor(s["x0"], dtype=torch.float32, requires_grad=True)
            opt = make(name, [p], o)
            iterates = [p.detach().tolist()]
            for _ in range(STEPS):
                with torch.no_grad():
                    p.grad = s["grad"](p.detach())
                opt.step()
                iterates.append(p.detach().tolist())
            runs.append({"surface": surface, "optimizer": name, "options": o, "x0": s["x0"], "iterates": iterates})
    doc = {
        "about": "torch.optim iterates on 2-D functions, float32; written by torch_optim.py beside this file",
        "torch": torch.__version__.split("+")[0],
        "steps": STEPS,
        "ravine": {"a": A, "b": B},
        "runs": runs,
    }
    # One run per line: diffs stay readable, the file stays small.
    head = {k: v for k, v in doc.items() if k != "runs"}
    text = json.dumps(head)[:-1] + ', "runs": [\n' + ",\n".join(json.dumps(r) for r in runs) + "\n]}\n"
    with open(out, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
