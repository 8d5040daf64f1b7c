"""Reference trajectories for cnn's optimizers, computed with Keras 3's update rules.

Run from the repository root (pure Python, no dependencies):

    python3 runtime/tests/optimizers/reference.py > runtime/tests/optimizers/trajectories.json

Each case starts from the same five weights and takes STEPS steps on the loss
    L(w) = sum_i 0.5 * c_i * (w_i - t_i)^2 + 0.3 * sin(w_i)
so each gradient depends on where the previous step landed (a closed-loop trajectory, as
in training). The defaults are Keras 3's except two learning rates, which follow Keras 2 and
PyTorch: adagrad 0.01 and adadelta 1.0 (Keras 3's 0.001 barely trains in an epoch). The formulas follow keras/src/optimizers/{sgd,adagrad,adadelta,rmsprop,adam,
adamax,nadam,adamw}.py and the base optimizer's clipping and weight decay: the gradient is
clipped per tensor (clipnorm, then clipvalue), then w <- w - lr * weight_decay * w, then the
rule's update with t = iterations + 1.
"""
import json
import math

STEPS = 12
W0 = [1.5, -0.7, 0.2, 3.0, -2.2]
C = [1.0, 0.5, 2.0, 0.1, 1.3]
T = [0.3, 0.1, -0.4, 1.0, 0.0]


def gradient(w):
    return [c * (x - t) + 0.3 * math.cos(x) for x, c, t in zip(w, C, T)]


def clip(g, clipnorm, clipvalue):
    if clipnorm is not None:
        norm = math.sqrt(sum(x * x for x in g))
        if norm > clipnorm:
            g = [x * clipnorm / norm for x in g]
    if clipvalue is not None:
        g = [max(-clipvalue, min(clipvalue, x)) for x in g]
    return g


def sgd(args):
    lr, mu, nesterov = args["learning_rate"], args["momentum"], args["nesterov"]
    state = {"m": [0.0] * len(W0)}

    def step(w, g, t):
        if mu == 0:
            return [x - lr * d for x, d in zip(w, g)]
        out = []
        for i, (x, d) in enumerate(zip(w, g)):
            m = state["m"][i] * mu - d * lr
            state["m"][i] = m
            out.append(x + (m * mu - d * lr if nesterov else m))
        return out

    return step


def adagrad(args):
    lr, eps = args["learning_rate"], args["epsilon"]
    acc = [args["initial_accumulator_value"]] * len(W0)

    def step(w, g, t):
        out = []
        for i, (x, d) in enumerate(zip(w, g)):
            acc[i] += d * d
            out.append(x - lr * d / math.sqrt(acc[i] + eps))
        return out

    return step


def adadelta(args):
    lr, rho, eps = args["learning_rate"], args["rho"], args["epsilon"]
    ag = [0.0] * len(W0)
    ad = [0.0] * len(W0)

    def step(w, g, t):
        out = []
        for i, (x, d) in enumerate(zip(w, g)):
            ag[i] = rho * ag[i] + (1 - rho) * d * d
            delta = -math.sqrt(ad[i] + eps) * d / math.sqrt(ag[i] + eps)
            ad[i] = rho * ad[i] + (1 - rho) * delta * delta
            out.append(x + lr * delta)
        return out

    return step


def rmsprop(args):
    lr, rho, mu, eps = args["learning_rate"], args["rho"], args["momentum"], args["epsilon"]
    v = [0.0] * len(W0)
    m = [0.0] * len(W0)
    a = [0.0] * len(W0)

    def step(w, g, t):
        out = []
        for i, (x, d) in enumerate(zip(w, g)):
            v[i] = rho * v[i] + (1 - rho) * d * d
            denominator = v[i]
            if args["centered"]:
                a[i] = rho * a[i] + (1 - rho) * d
                denominator = v[i] - a[i] * a[i]
            increment = lr * d / math.sqrt(denominator + eps)
            if mu > 0:
                m[i] = mu * m[i] + increment
                out.append(x - m[i])
            else:
                out.append(x - increment)
        return out

    return step


def adam(args):
    lr, b1, b2, eps = args["learning_rate"], args["beta_1"], args["beta_2"], args["epsilon"]
    m = [0.0] * len(W0)
    v = [0.0] * len(W0)
    vhat = [0.0] * len(W0)

    def step(w, g, t):
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        out = []
        for i, (x, d) in enumerate(zip(w, g)):
            m[i] += (d - m[i]) * (1 - b1)
            v[i] += (d * d - v[i]) * (1 - b2)
            second = v[i]
            if args["amsgrad"]:
                vhat[i] = max(vhat[i], v[i])
                second = vhat[i]
            out.append(x - m[i] * alpha / (math.sqrt(second) + eps))
        return out

    return step


def adamax(args):
    lr, b1, b2, eps = args["learning_rate"], args["beta_1"], args["beta_2"], args["epsilon"]
    m = [0.0] * len(W0)
    u = [0.0] * len(W0)

    def step(w, g, t):
        out = []
        for i, (x, d) in enumerate(zip(w, g)):
            m[i] += (d - m[i]) * (1 - b1)
            u[i] = max(b2 * u[i], abs(d))
            out.append(x - lr * m[i] / ((1 - b1**t) * (u[i] + eps)))
        return out

    return step


def nadam(args):
    lr, b1, b2, eps = args["learning_rate"], args["beta_1"], args["beta_2"], args["epsilon"]
    m = [0.0] * len(W0)
    v = [0.0] * len(W0)
    product = [1.0]

    def step(w, g, t):
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        product[0] *= u_t
        out = []
        for i, (x, d) in enumerate(zip(w, g)):
            m[i] += (d - m[i]) * (1 - b1)
            v[i] += (d * d - v[i]) * (1 - b2)
            m_hat = u_next * m[i] / (1 - product[0] * u_next) + (1 - u_t) * d / (1 - product[0])
            v_hat = v[i] / (1 - b2**t)
            out.append(x - m_hat * lr / (math.sqrt(v_hat) + eps))
        return out

    return step


COMMON = {"weight_decay": 0.0, "clipnorm": None, "clipvalue": None}
DEFAULTS = {
    "sgd": (sgd, {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False}),
    "adagrad": (adagrad, {"learning_rate": 0.01, "initial_accumulator_value": 0.1, "epsilon": 1e-7}),
    "adadelta": (adadelta, {"learning_rate": 1.0, "rho": 0.95, "epsilon": 1e-7}),
    "rmsprop": (rmsprop, {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False}),
    "adam": (adam, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False}),
    "adamax": (adamax, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    "nadam": (nadam, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    "adamw": (adam, {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False, "weight_decay": 0.004}),
}

# Every optimizer with its defaults, and variants that exercise the other branches. Large
# learning rates make the differences between rules visible within a few steps.
CASES = [(name, {}) for name in DEFAULTS] + [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("sgd", {"learning_rate": 0.1, "clipnorm": 1.0}),
    ("sgd", {"learning_rate": 0.1, "clipvalue": 0.5, "weight_decay": 0.1}),
    ("adagrad", {"learning_rate": 0.1}),
    ("adadelta", {"learning_rate": 0.001}),
    ("rmsprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
    ("adam", {"learning_rate": 0.1, "amsgrad": True}),
    ("adamax", {"learning_rate": 0.1}),
    ("nadam", {"learning_rate": 0.1}),
    ("adamw", {"learning_rate": 0.1, "weight_decay": 0.05}),
]


def run(name, overrides):
    factory, defaults = DEFAULTS[name]
    args = {**COMMON, **defaults, **overrides}
    step = factory(args)
    w = list(W0)
    trajectory = []
    for t in range(1, STEPS + 1):
        g = clip(gradient(w), args["clipnorm"], args["clipvalue"])
        if args["weight_decay"] > 0:
            w = [x - x * args["weight_decay"] * args["learning_rate"] for x in w]
        w = step(w, g, t)
        trajectory.append(w)
    return {"optimizer": name, "args": args, "trajectory": trajectory}


if __name__ == "__main__":
    print(json.dumps({"w0": W0, "c": C, "t": T, "cases": [run(n, o) for n, o in CASES]}, indent=1))
