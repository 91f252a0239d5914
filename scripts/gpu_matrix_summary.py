#!/usr/bin/env python3
"""Builds matrix.md and matrix.json from a scripts/gpu-matrix.sh work folder.

    python3 scripts/gpu_matrix_summary.py WORKDIR DESTDIR

Standard library only (runs under any python3, with or without PyTorch). WORKDIR holds:

  plan.tsv    every planned step, in run order: name kind net batch precision variant
              (kind: ours, torch, train, loader, e2e-data, e2e-pack, e2e-train; variant: plain
              or cl for torch, folder or packed for e2e-train, '-' otherwise)
  steps.tsv   one line per step that was started or skipped:
              name state rc seconds limit  (state: ok, failed, timeout, skipped; rc a
              number, or a word such as no-torch)
  NAME.out    the step's stdout (JSON for the benchmarks), NAME.err its stderr
  meta.env    KEY=VALUE lines: dryrun, budget, min_top1, backend, started
  nvidia-smi.out, alexnet-devices.out, torch-versions.out   the versions at the top

A planned step without a line in steps.tsv shows as "not reached" (the script was
killed before it); a step that ran but printed no readable JSON as "failed (no JSON)".
Nothing is left out silently. It is run after every step, so a killed script still
leaves the table of what had finished.
"""

import json
import os
import re
import sys

# The fields each kind of benchmark must print for its row to count.
NEEDED = {
    "ours": ("train_images_per_sec_median", "train_images_per_sec", "infer_images_per_sec_median",
             "infer_images_per_sec"),
    "torch": ("train_images_per_sec", "train_images_per_sec_best", "infer_images_per_sec",
              "infer_images_per_sec_best"),
}
NETS = {"alexnet": "paper (alexnet)", "alexnet-owt": "torchvision (alexnet-owt)"}


def read_tsv(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.rstrip("\n")
                if line and not line.startswith("#"):
                    rows.append(line.split("\t"))
    except OSError:
        pass
    return rows


def read_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def parse_json(text):
    """The whole text as JSON (our bench), else its last line that is a JSON object
    (bench_torch.py prints one line; warnings may come before it)."""
    text = text.strip()
    if not text:
        return None
    try:
        v = json.loads(text)
        return v if isinstance(v, dict) else None
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                v = json.loads(line)
                return v if isinstance(v, dict) else None
            except ValueError:
                continue
    return None


def state_text(st):
    """Human words for a step that gave no numbers."""
    if st is None:
        return "not reached"
    state, rc, secs, limit = st["state"], st["rc"], st["seconds"], st["limit"]
    if state == "timeout":
        return "timed out (%ss)" % limit
    if state == "skipped":
        return "skipped (budget)"
    if state == "failed":
        return ("failed (exit %s)" if rc.lstrip("-").isdigit() else "failed (%s)") % rc
    return "failed (%s)" % state


def fmt_ips(v):
    return "%.0f" % v if v >= 100 else "%.3g" % v


def fmt_gb(b):
    return "%.2f GB" % (b / 1e9) if b else "?"


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    work, dest = sys.argv[1], sys.argv[2]
    meta = {}
    for line in read_text(os.path.join(work, "meta.env")).splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            meta[k.strip()] = v.strip()
    min_top1 = float(meta.get("min_top1", "90"))

    plan = read_tsv(os.path.join(work, "plan.tsv"))
    states = {}
    for r in read_tsv(os.path.join(work, "steps.tsv")):
        if len(r) >= 5:
            states[r[0]] = {"state": r[1], "rc": r[2], "seconds": r[3], "limit": r[4]}

    # Every step: its state and, where it printed one, its JSON.
    steps = []
    for r in plan:
        if len(r) < 6:
            continue
        name, kind, net, batch, prec, variant = r[:6]
        st = states.get(name)
        res = None
        if st is not None and st["state"] == "ok" and kind in ("ours", "torch"):
            res = parse_json(read_text(os.path.join(work, name + ".out")))
            # A run in another precision than asked (an older binary ignoring the flag,
            # say) must not pass for this row.
            if res is not None and res.get("precision") not in (None, prec):
                st = dict(st, state="failed", rc="ran as %s" % res.get("precision"))
                res = None
            elif res is None:
                st = dict(st, state="failed", rc="no JSON")
        err_tail = [l for l in read_text(os.path.join(work, name + ".err")).splitlines() if l.strip()][-2:]
        steps.append({"name": name, "kind": kind, "net": net, "batch": batch,
                      "precision": prec, "variant": variant, "status": st, "result": res,
                      "err_tail": err_tail})

    # Rows: (net, batch, precision) in plan order.
    rows, order = {}, []
    for s in steps:
        if s["kind"] not in ("ours", "torch"):
            continue
        key = (s["net"], s["batch"], s["precision"])
        if key not in rows:
            rows[key] = {"ours": None, "torch": {}}
            order.append(key)
        if s["kind"] == "ours":
            rows[key]["ours"] = s
        else:
            rows[key]["torch"][s["variant"]] = s

    def ok(s):
        return s is not None and s["result"] is not None and all(
            isinstance(s["result"].get(k), (int, float)) for k in NEEDED[s["kind"]])

    def why(s):
        if s is None:
            return "not planned"
        if s["result"] is not None:
            return "failed (JSON lacks %s)" % ", ".join(k for k in NEEDED[s["kind"]]
                                                        if not isinstance(s["result"].get(k), (int, float)))
        return state_text(s["status"])

    # The table reads by net, then batch, then precision (fp32, tf32, bf16, fp16),
    # whatever order the steps ran in.
    nets_seen = []
    for k in order:
        if k[0] not in nets_seen:
            nets_seen.append(k[0])
    prec_rank = {p: i for i, p in enumerate(("fp32", "tf32", "bf16", "fp16"))}
    order.sort(key=lambda k: (nets_seen.index(k[0]), int(k[1]) if k[1].isdigit() else 0,
                              prec_rank.get(k[2], 9)))

    table, jrows = [], []
    for key in order:
        net, batch, prec = key
        o = rows[key]["ours"]
        tv = rows[key]["torch"]
        jr = {"net": net, "batch": int(batch), "precision": prec}
        cells = [NETS.get(net, net), batch, prec]

        # Ours.
        if ok(o):
            r = o["result"]
            jr["ours"] = {
                "train_median": r.get("train_images_per_sec_median"),
                "train_best": r.get("train_images_per_sec"),
                "infer_median": r.get("infer_images_per_sec_median"),
                "infer_best": r.get("infer_images_per_sec"),
                "peak_bytes": r.get("peak_backend_bytes"),
                "peak_rss_bytes": r.get("peak_rss_bytes"),
                "precision_reported": r.get("precision"),
                "seconds": float(o["status"]["seconds"]),
            }
        else:
            jr["ours"] = {"status": why(o)}

        # PyTorch: every variant, then the best median of each kind of step.
        jr["pytorch"] = {}
        for variant, s in tv.items():
            if ok(s):
                r = s["result"]
                jr["pytorch"][variant] = {
                    "train_median": r.get("train_images_per_sec"),
                    "train_best": r.get("train_images_per_sec_best"),
                    "infer_median": r.get("infer_images_per_sec"),
                    "infer_best": r.get("infer_images_per_sec_best"),
                    "peak_bytes": r.get("peak_memory_bytes"),
                    "peak_kind": r.get("peak_memory_kind"),
                    "torch": r.get("torch"),
                    "seconds": float(s["status"]["seconds"]),
                }
            else:
                jr["pytorch"][variant] = {"status": why(s)}
        good = {v: d for v, d in jr["pytorch"].items() if "status" not in d}
        failed_variants = [("%s: %s" % ("channels_last" if v == "cl" else v, d["status"]))
                           if len(tv) > 1 else d["status"]
                           for v, d in jr["pytorch"].items() if "status" in d]

        for what in ("train", "infer"):
            oc = jr["ours"]
            if "status" in oc:
                ours_cell, om = oc["status"], None
            else:
                om = oc[what + "_median"]
                ours_cell = "%s / %s" % (fmt_ips(om), fmt_ips(oc[what + "_best"]))
            if good:
                bv = max(good, key=lambda v: good[v][what + "_median"] or 0)
                tm = good[bv][what + "_median"]
                label = "channels_last" if bv == "cl" else "plain"
                if len(good) > 1:
                    label += ", best of %d" % len(good)
                torch_cell = "%s / %s (%s)" % (fmt_ips(tm), fmt_ips(good[bv][what + "_best"]), label)
                jr["pytorch_best_" + what] = bv
            else:
                tm = None
                torch_cell = "; ".join(failed_variants) if failed_variants else "not planned"
            if failed_variants and good:
                torch_cell += "; " + "; ".join(failed_variants)
            ratio = "%.2f" % (om / tm) if om and tm else "—"
            jr["ratio_" + what] = round(om / tm, 4) if om and tm else None
            cells += [ours_cell, torch_cell, ratio]

        # Peak memory: ours (backend), PyTorch of the variant best at training.
        cells.append(fmt_gb(jr["ours"]["peak_bytes"]) if "status" not in jr["ours"] else jr["ours"]["status"])
        if good:
            bv = jr["pytorch_best_train"]
            cells.append("%s (%s)" % (fmt_gb(good[bv]["peak_bytes"]), "channels_last" if bv == "cl" else "plain"))
        else:
            cells.append("—")
        table.append(cells)
        jrows.append(jr)

    # The Fashion-MNIST training.
    trains = []
    for s in steps:
        if s["kind"] != "train":
            continue
        t = {"name": s["name"], "precision": s["precision"], "min_top1": min_top1}
        st = s["status"]
        log = read_text(os.path.join(work, s["name"] + ".out")) + read_text(os.path.join(work, s["name"] + ".err"))
        m = re.search(r"^done: (\d+) epochs, (\d+) steps in (\S+); validation top-1 ([\d.]+)%", log, re.M)
        epochs = re.findall(r"^epoch (\d+)/(\d+) .*val loss ([\d.]+)\s+top1 ([\d.]+)%", log, re.M)
        if st is not None and st["state"] == "ok" and m:
            t.update(epochs=int(m.group(1)), steps=int(m.group(2)), train_time=m.group(3),
                     top1=float(m.group(4)), wall_seconds=float(st["seconds"]))
            t["pass"] = t["top1"] >= min_top1
            t["status"] = "ok" if t["pass"] else "below %.0f%%" % min_top1
        else:
            t["status"] = state_text(st) if (st is None or st["state"] != "ok") else "failed (no 'done:' line)"
            t["pass"] = False
            if epochs:
                e = epochs[-1]
                t["last_epoch"] = "%s/%s" % (e[0], e[1])
                t["last_val_top1"] = float(e[3])
        trains.append(t)

    # The loader benchmarks: Go benchmark lines such as
    # "BenchmarkLoaderPacked-16  10  3055 images/cpu-s  6043 images/s  3022 images/s/core ...".
    loaders = []
    for s in steps:
        if s["kind"] != "loader":
            continue
        text = read_text(os.path.join(work, s["name"] + ".out"))
        rows = []
        # GOMAXPROCS=1 drops the -N suffix.
        for m in re.finditer(r"^Benchmark(\S+?)(?:-(\d+))?\s+\d+\s+(\d.*)$", text, re.M):
            vals = {unit: float(v) for v, unit in re.findall(r"([\d.]+) (\S+)", m.group(3))}
            rows.append({"bench": m.group(1), "procs": int(m.group(2) or 1),
                         "images_per_cpu_s": vals.get("images/cpu-s"),
                         "images_per_s": vals.get("images/s"),
                         "images_per_s_per_core": vals.get("images/s/core")})
        st = s["status"]
        if st is None:
            rows.append({"bench": s["name"], "status": "not reached"})
        elif st["state"] != "ok":
            rows.append({"bench": s["name"], "status": "%s after %d row(s)" % (state_text(st), len(rows))})
        elif not rows:
            rows.append({"bench": s["name"], "status": "no benchmark lines in its output"})
        loaders.extend(rows)

    # Training from data (e2e): the last epoch line of each run, beside our synthetic
    # bench of the same net, batch and precision.
    e2e = []
    for s in steps:
        if s["kind"] not in ("e2e-train", "e2e-pack", "e2e-data"):
            continue
        log = read_text(os.path.join(work, s["name"] + ".out")) + read_text(os.path.join(work, s["name"] + ".err"))
        st = s["status"]
        r = {"name": s["name"], "kind": s["kind"], "variant": s["variant"], "precision": s["precision"],
             "status": state_text(st) if (st is None or st["state"] != "ok") else "ok",
             "seconds": float(st["seconds"]) if st and st["state"] != "skipped" else None}
        if s["kind"] == "e2e-train":
            # Epoch lines only (they have the validation), not progress lines.
            ep = re.findall(r"^epoch (\d+)/(\d+) .*val loss .*?([\d.]+) img/s\s+(\S+)(.*)$", log, re.M)
            if ep:
                e = ep[-1]
                r["epoch"] = "%s/%s" % (e[0], e[1])
                r["images_per_sec"] = float(e[2])
                w = re.search(r"waited for data (\d+)%", e[4])
                r["waited_pct"] = float(w.group(1)) if w else 0.0
            bench = next((x for x in steps if x["kind"] == "ours" and x["net"] == s["net"] and
                          x["batch"] == s["batch"] and x["precision"] == s["precision"] and ok(x)), None)
            if bench:
                r["bench_train_median"] = bench["result"].get("train_images_per_sec_median")
        elif s["kind"] == "e2e-pack":
            m = re.search(r"^train: (\d+) images -> .* \((.*?)\) in (\S+), (\d+) images/s", log, re.M)
            if m:
                r.update(images=int(m.group(1)), size=m.group(2), pack_time=m.group(3), images_per_sec=float(m.group(4)))
        elif s["kind"] == "e2e-data":
            m = re.search(r"wrote (\d+) \+ (\d+) images \((\d+) MB\) in (\d+) classes", log)
            if m:
                r.update(images=int(m.group(1)), val_images=int(m.group(2)), mb=int(m.group(3)), classes=int(m.group(4)))
        e2e.append(r)

    # Versions.
    smi = read_text(os.path.join(work, "nvidia-smi.out")).strip()
    dev = read_text(os.path.join(work, "alexnet-devices.out")).strip()
    tv_ = read_text(os.path.join(work, "torch-versions.out")).strip()

    md = []
    title = "GPU matrix: ours vs PyTorch"
    if meta.get("dryrun") == "1":
        title += " — DRY RUN on %s (not a measurement)" % meta.get("backend", "cpu")
    md.append("# " + title)
    md.append("")
    md.append("Run %s, budget %ss, %s timed iterations after %s warm-up; "
              "images/s as median / best step." % (meta.get("started", "?"), meta.get("budget", "?"),
                                                   meta.get("iters", "?"), meta.get("warmup", "?")))
    md.append("")
    md.append("```")
    md.append("nvidia-smi: " + (smi or "(none)"))
    md.append("torch: " + (tv_ or "(none)"))
    md.append("alexnet devices:")
    md.append(dev or "(none)")
    md.append("```")
    md.append("")
    hdr = ["net", "batch", "precision",
           "ours train img/s", "PyTorch train img/s", "ours/PyTorch train",
           "ours infer img/s", "PyTorch infer img/s", "ours/PyTorch infer",
           "ours peak (backend)", "PyTorch peak"]
    md.append("| " + " | ".join(hdr) + " |")
    md.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(hdr) - 3)) + "|")
    for c in table:
        md.append("| " + " | ".join(c) + " |")
    md.append("")
    md.append("PyTorch: the variant (plain NCHW or channels_last) with the higher median is shown "
              "for each of training and inference; its peak is the one best at training. "
              "Ours: peak_backend_bytes; PyTorch: torch.cuda.max_memory_allocated "
              "(ru_maxrss on a CPU). bf16/fp16 in PyTorch: torch.autocast with fp32 master "
              "weights (fp16 with a GradScaler).")
    md.append("")
    if trains:
        md.append("| Fashion-MNIST training | precision | status | val top-1 | epochs | steps | train time (its log) | wall time (whole step) |")
        md.append("|---|---|---|---:|---:|---:|---:|---:|")
        for t in trains:
            if "top1" in t:
                md.append("| %s | %s | %s (≥ %.0f%%: %s) | %.2f%% | %d | %d | %s | %.0fs |" % (
                    t["name"], t["precision"], t["status"], min_top1, "yes" if t["pass"] else "NO",
                    t["top1"], t["epochs"], t["steps"], t["train_time"], t["wall_seconds"]))
            else:
                extra = " (last epoch %s: val top-1 %.2f%%)" % (t["last_epoch"], t["last_val_top1"]) if "last_epoch" in t else ""
                md.append("| %s | %s | %s%s | — | — | — | — | — |" % (t["name"], t["precision"], t["status"], extra))
        md.append("")
    if loaders:
        md.append("| Data loader (host CPU) | cores | images/s | images/s per core | images per CPU-second |")
        md.append("|---|---:|---:|---:|---:|")
        for r in loaders:
            if "status" in r:
                md.append("| %s | %s | — | — | — |" % (r["bench"], r["status"]))
                continue
            f = lambda v: "%.0f" % v if isinstance(v, float) else "?"
            md.append("| %s | %d | %s | %s | %s |" % (r["bench"], r["procs"], f(r["images_per_s"]),
                                                     f(r["images_per_s_per_core"]), f(r["images_per_cpu_s"])))
        md.append("")
        md.append("LoaderImageNetJPEG: 256 photo-like 500x375 q90 JPEGs, resize 256, random 224 crop, flip, "
                  "lighting, normalise, batches of 128; LoaderPacked: the same images after `alexnet pack`; "
                  "LoaderSynthetic: random 224x224 images resized to 256 then the same augmentation.")
        md.append("")
    if e2e:
        md.append("| Training from data (`alexnet train`, paper's net, batch 128) | precision | status | last epoch img/s | waited for data | bench, synthetic (median) |")
        md.append("|---|---|---|---:|---:|---:|")
        for r in e2e:
            if r["kind"] == "e2e-train":
                md.append("| %s (%s) | %s | %s | %s | %s | %s |" % (
                    r["name"], r.get("epoch", "no epoch line"), r["precision"], r["status"],
                    "%.0f" % r["images_per_sec"] if "images_per_sec" in r else "—",
                    "%.0f%%" % r["waited_pct"] if "waited_pct" in r else "—",
                    "%.0f" % r["bench_train_median"] if r.get("bench_train_median") else "—"))
            elif r["kind"] == "e2e-pack":
                md.append("| %s: %s | | %s | %s | | |" % (
                    r["name"], ("%d images, %s, %s" % (r["images"], r["size"], r["pack_time"])) if "images" in r else "—",
                    r["status"], "%.0f (packing)" % r["images_per_sec"] if "images_per_sec" in r else "—"))
            else:
                md.append("| %s: %s | | %s | | | |" % (
                    r["name"], ("%d + %d JPEGs in %d classes, %d MB" % (r["images"], r["val_images"], r["classes"], r["mb"])) if "images" in r else "—",
                    r["status"]))
        md.append("")
        md.append("The first epoch includes cuDNN's algorithm search: read the last. \"waited for data\" "
                  "is the share of the epoch the model waited for the loader (below 10% is shown as 0%).")
        md.append("")
    bad = [s for s in steps if s["status"] is not None and s["status"]["state"] in ("failed", "timeout")]
    if bad:
        md.append("Failed or timed out (last lines of stderr):")
        md.append("")
        for s in bad:
            md.append("- %s: %s%s" % (s["name"], state_text(s["status"]),
                                       (" — " + " / ".join(x.strip()[:200] for x in s["err_tail"])) if s["err_tail"] else ""))
        md.append("")
    md.append("Steps: " + ", ".join("%s %s%s" % (
        s["name"], s["status"]["state"] if s["status"] else "not reached",
        " %ss" % s["status"]["seconds"] if s["status"] and s["status"]["state"] != "skipped" else "")
        for s in steps))
    md.append("")

    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "matrix.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(dest, "matrix.json"), "w") as f:
        json.dump({"meta": meta, "nvidia_smi": smi, "torch": tv_, "alexnet_devices": dev,
                   "rows": jrows, "training": trains, "loader": loaders, "e2e": e2e,
                   "steps": [{"name": s["name"], "kind": s["kind"], "net": s["net"], "batch": s["batch"],
                              "precision": s["precision"], "variant": s["variant"],
                              "status": s["status"] or {"state": "not reached"},
                              "stderr_tail": s["err_tail"]} for s in steps]},
                  f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
