#!/usr/bin/env python3
"""plot.py TSV SVG - draws bench/scaling.sh's results as a small SVG with
four panels (no plotting library needed)."""
import math
import sys

rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
W, H, PAD = 300, 220, 45


def panel(x0, title, xs, ys, xlabel, ylabel, logx=False, labels=None):
    out = [f'<g transform="translate({x0},0)">',
           f'<text x="{W/2}" y="16" text-anchor="middle" font-size="13">{title}</text>']
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    xmin, xmax = min(map(fx, xs)), max(map(fx, xs))
    ymin, ymax = 0, max(max(ys) * 1.15, 1e-9)
    sx = lambda v: PAD + (fx(v) - xmin) / ((xmax - xmin) or 1) * (W - PAD - 15)
    sy = lambda v: H - PAD + 10 - (v - ymin) / (ymax - ymin) * (H - PAD - 25)
    out.append(f'<line x1="{PAD}" y1="{sy(0)}" x2="{W-15}" y2="{sy(0)}" stroke="black"/>')
    out.append(f'<line x1="{PAD}" y1="{sy(0)}" x2="{PAD}" y2="{sy(ymax)}" stroke="black"/>')
    for k in range(5):
        v = ymax * k / 4
        out.append(f'<text x="{PAD-4}" y="{sy(v)+4}" text-anchor="end" font-size="10">{v:.3g}</text>')
    pts = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(xs, ys))
    out.append(f'<polyline points="{pts}" fill="none" stroke="#1f5fa8" stroke-width="2"/>')
    for i, (x, y) in enumerate(zip(xs, ys)):
        out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="#1f5fa8"/>')
        lab = labels[i] if labels else f"{x:g}"
        out.append(f'<text x="{sx(x):.1f}" y="{H-PAD+24}" text-anchor="middle" font-size="10">{lab}</text>')
        out.append(f'<text x="{sx(x):.1f}" y="{sy(y)-6:.1f}" text-anchor="middle" font-size="9">{y:.3g}</text>')
    out.append(f'<text x="{W/2}" y="{H-4}" text-anchor="middle" font-size="11">{xlabel}</text>')
    out.append(f'<text x="12" y="{H/2}" text-anchor="middle" font-size="11" '
               f'transform="rotate(-90 12 {H/2})">{ylabel}</text>')
    out.append("</g>")
    return out


def series(kind, col=2):
    r = [x for x in rows if x[0] == kind]
    return [float(x[1]) for x in r], [float(x[col]) for x in r]


parts = []
xs, ys = series("rate")
parts += panel(0, "instructions vs rate (churn)", xs, ys, "rate (bytes)", "x plain", True,
               ["1", "4K", "64K", "512K", "4M"])
xs, ys = series("depth")
parts += panel(W, "instructions vs stack depth", xs, ys, "frames (rate 4096)", "x plain")
xs, ys = series("threads")
parts += panel(2 * W, "wall vs threads (churn)", xs, ys, "threads", "x plain")
xs, ys = series("stacks", 3)
parts += panel(3 * W, "symbolize+write CPU vs stacks", xs, ys, "distinct stacks", "seconds", True)
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{4*W}" height="{H}" '
       f'font-family="sans-serif">', '<rect width="100%" height="100%" fill="white"/>'] + parts + ["</svg>"]
open(sys.argv[2], "w").write("\n".join(svg) + "\n")
