#!/usr/bin/env python3
"""DeFeat losses in PyTorch: the official algorithm and a vectorised version, timed side by side.

The PyTorch twin of benchmarks/DeFeat.Benchmarks, for a GPU machine that has PyTorch but no .NET (or where the
TorchSharp route fails). Same cases as the C# benchmarks: R50-FPN P2-P6, 256 channels, input 1333x800 (padded to
1344x800) or 320x320, B images, 20 GT boxes per image for the neck loss, 20 / 100 for the masks; proposal KD with
R = 512*B RoIs (25 % positive), K + 1 = 81 classes, beta = 2/2, T = 1; lambda_obj / lambda_bg = 4 / 16.

"official" follows the official DeFeat.pytorch code step by step: masks built per image, per level, per box with host
reads of the coordinates and slice assignments on float64 maps; the mask repeated over channels; two separate masked
passes per level with Python max() (a host read) for the normalisers; KL with boolean-mask row selection and
labels.max() as background. "vectorised" does the same arithmetic with no host synchronisation: masks from a 2-D
difference array, the squared difference summed over channels once and reduced with the mask by dot products, and a
per-row KL reduced with masks.

Each pair is checked for agreement before it is timed. Timing: warm-up, then the median of --repeats timed calls,
each ending with torch.cuda.synchronize() on CUDA. Also prints the measured device copy bandwidth and the bandwidth
floor of the neck loss (bytes that must move / that bandwidth).

Usage:  python3 defeat_losses_torch.py --device cuda --shape coco --batch 2 8 --repeats 20
This script has not been run where it was written (no PyTorch there); see benchmarks/RESULTS.md.
"""

import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

STRIDES = [4, 8, 16, 32, 64]
SHAPES = {"small": (320, 320), "coco": (800, 1333)}
CHANNELS = 256
NECK_BOXES_PER_IMAGE = 20
ROIS_PER_IMAGE = 512
OBJECT_CLASSES = 80
LAMBDA_OBJ, LAMBDA_BG = 4.0, 16.0
BETA_OBJ, BETA_BG, TEMPERATURE = 2.0, 2.0, 1.0


# ----------------------------------------------------------------------------------------------------------- inputs
def level_sizes(height, width):
    """P2-P5 = ceil(padded / stride), P6 = ceil(P5 / 2); padding to a multiple of 32, bottom-right."""
    padded_h, padded_w = math.ceil(height / 32) * 32, math.ceil(width / 32) * 32
    sizes = [(math.ceil(padded_h / s), math.ceil(padded_w / s)) for s in STRIDES[:4]]
    sizes.append((math.ceil(sizes[-1][0] / 2), math.ceil(sizes[-1][1] / 2)))
    return sizes


def gt_boxes(height, width, batch, boxes_per_image, device, seed=7):
    """[N, 4] float32 xyxy per image: sqrt-area log-uniform in [16, 1000] px, aspect h/w in [0.5, 2]."""
    g = torch.Generator().manual_seed(seed)
    images = []
    for _ in range(batch):
        side = torch.exp(math.log(16.0) + torch.rand(boxes_per_image, generator=g, dtype=torch.float64)
                         * (math.log(1000.0) - math.log(16.0)))
        aspect = torch.exp(math.log(0.5) + torch.rand(boxes_per_image, generator=g, dtype=torch.float64)
                           * (math.log(2.0) - math.log(0.5)))
        w = torch.clamp(side / aspect.sqrt(), max=width - 1.0)
        h = torch.clamp(side * aspect.sqrt(), max=height - 1.0)
        x1 = torch.rand(boxes_per_image, generator=g, dtype=torch.float64) * (width - w)
        y1 = torch.rand(boxes_per_image, generator=g, dtype=torch.float64) * (height - h)
        images.append(torch.stack([x1, y1, x1 + w, y1 + h], 1).float().to(device))
    return images


def neck_features(sizes, batch, device, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, CHANNELS, h, w, generator=g).to(device) for h, w in sizes]


def proposal_logits(rois, device, seed=11):
    g = torch.Generator().manual_seed(seed)
    student = (torch.randn(rois, OBJECT_CLASSES + 1, generator=g) * 2).to(device)
    teacher = (torch.randn(rois, OBJECT_CLASSES + 1, generator=g) * 2).to(device)
    positives = rois // 4
    labels = torch.cat([torch.randint(0, OBJECT_CLASSES, (positives,), generator=g),
                        torch.full((rois - positives,), OBJECT_CLASSES, dtype=torch.long)])
    return student, teacher, labels[torch.randperm(rois, generator=g)].to(device)


# ------------------------------------------------------------------------------------------------------------ masks
def map_roi_levels(boxes, num_levels):
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1))
    return torch.floor(torch.log2(scale / 56 + 1e-6)).clamp(min=0, max=num_levels - 1).long()


def official_masks(boxes_per_image, sizes):
    """Official get_gt_mask: loops over images, levels, boxes; int() host reads; slice += 1 on float64 maps."""
    with torch.no_grad():
        per_image = []
        for boxes in boxes_per_image:
            target_levels = map_roi_levels(boxes, len(sizes))
            levels = []
            for level, (h, w) in enumerate(sizes):
                level_boxes = boxes[target_levels == level]
                mask = torch.zeros([h, w], dtype=torch.double, device=boxes.device)
                for box in range(level_boxes.shape[0]):
                    on_map = level_boxes[box] / STRIDES[level]
                    lx, rx = max(int(on_map[0]), 0), min(int(on_map[2]), w)
                    ly, ry = max(int(on_map[1]), 0), min(int(on_map[3]), h)
                    if lx == rx or ly == ry:
                        mask[ly, lx] += 1
                    else:
                        mask[ly:ry, lx:rx] += 1
                levels.append((mask > 0).double())
            per_image.append(levels)
        return [torch.stack([levels[level] for levels in per_image], 0) for level in range(len(sizes))]


def vectorised_masks(boxes_per_image, sizes):
    """Same rule, no host reads: +1/-1 at the region corners (index_put_ accumulate), two cumsums, > 0."""
    with torch.no_grad():
        device = boxes_per_image[0].device
        boxes = torch.cat(boxes_per_image).double()
        image = torch.cat([torch.full((b.shape[0],), i, dtype=torch.long, device=device)
                           for i, b in enumerate(boxes_per_image)])
        box_levels = map_roi_levels(boxes, len(sizes))
        masks = []
        for level, (h, w) in enumerate(sizes):
            cells = torch.trunc(boxes / STRIDES[level])
            r0, r1 = cells[:, 1].clamp(0, h).long(), cells[:, 3].clamp(0, h).long()
            c0, c1 = cells[:, 0].clamp(0, w).long(), cells[:, 2].clamp(0, w).long()
            single = (r1 <= r0) | (c1 <= c0)
            sr, sc = cells[:, 1].clamp(0, h - 1).long(), cells[:, 0].clamp(0, w - 1).long()
            r0, r1 = torch.where(single, sr, r0), torch.where(single, sr + 1, r1)
            c0, c1 = torch.where(single, sc, c0), torch.where(single, sc + 1, c1)
            weight = (box_levels == level).float()
            diff = torch.zeros(len(boxes_per_image), h + 1, w + 1, device=device)
            diff.index_put_((image.repeat(4), torch.cat([r0, r0, r1, r1]), torch.cat([c0, c1, c0, c1])),
                            torch.cat([weight, -weight, -weight, weight]), accumulate=True)
            masks.append((diff.cumsum(1).cumsum(2)[:, :h, :w] > 0).float())
        return masks


# ------------------------------------------------------------------------------------------------------- neck loss
def official_neck_loss(student, teacher, masks):
    """Official train.py neck-decouple: mask repeated over C, two masked passes, max(1, .) read on the host."""
    obj, bg = 0, 0
    for s, t, m in zip(student, teacher, masks):
        t = t.detach()
        mask = m.unsqueeze(1).repeat(1, s.shape[1], 1, 1)
        norms = max(1.0, mask.sum() * 2)
        obj = obj + (torch.pow(s - t, 2) * mask).sum() / norms
        norms_back = max(1.0, (1 - mask).sum() * 2)
        bg = bg + (torch.pow(s - t, 2) * (1 - mask)).sum() / norms_back
    return LAMBDA_OBJ * obj / len(student) + LAMBDA_BG * bg / len(student)


def vectorised_neck_loss(student, teacher, masks):
    """d = sum_c (S - T)^2 once per level; both terms are dot products of d with M and 1 - M; no host read."""
    obj = student[0].new_zeros(())
    bg = student[0].new_zeros(())
    for s, t, m in zip(student, teacher, masks):
        channels = t.shape[1]
        d = (s - t.detach()).square().sum(1).flatten()
        m = m.flatten().to(d.dtype)
        obj = obj + d.dot(m) / (m.sum() * (2.0 * channels)).clamp_min(1.0)
        bg = bg + d.dot(1 - m) / ((1 - m).sum() * (2.0 * channels)).clamp_min(1.0)
    return LAMBDA_OBJ * obj / len(student) + LAMBDA_BG * bg / len(student)


# ------------------------------------------------------------------------------------------------------ proposal KD
def official_proposal_kd(student, teacher, labels):
    """Official KLDivergenceLoss, KL-decouple: background = labels.max(), boolean row selection, kl_div(sum)/n."""
    def kl(s, t):
        return F.kl_div(F.log_softmax(s / TEMPERATURE, 1), F.softmax(t / TEMPERATURE, 1),
                        reduction="sum") * TEMPERATURE ** 2 / s.shape[0]
    background = labels.max()
    positive = (labels >= 0) & (labels < background)
    negative = labels == background
    return (BETA_OBJ * kl(student[positive], teacher[positive].detach())
            + BETA_BG * kl(student[negative], teacher[negative].detach()))


def vectorised_proposal_kd(student, teacher, labels):
    """Per-row KL, summed under masks; background = K (the last column), no host read."""
    log_p = (student / TEMPERATURE).log_softmax(1)
    log_q = (teacher.detach() / TEMPERATURE).log_softmax(1)
    row_kl = (log_q.exp() * (log_q - log_p)).sum(1)
    is_bg = labels == student.shape[1] - 1
    is_pos = (labels >= 0) & ~is_bg
    def term(in_set, beta):
        return beta * TEMPERATURE ** 2 * row_kl.masked_fill(~in_set, 0).sum() / in_set.sum().clamp_min(1)
    return term(is_pos, BETA_OBJ) + term(is_bg, BETA_BG)


# ----------------------------------------------------------------------------------------------------------- timing
def synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fn, device, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def copy_bandwidth_gbs(device, repeats):
    """Peak device copy bandwidth: bytes read + written by a 1 GiB clone, GB/s."""
    x = torch.empty(256 * 1024 * 1024, dtype=torch.float32, device=device)
    ms = median_ms(lambda: x.clone(), device, repeats)
    return 2 * x.numel() * 4 / (ms * 1e-3) / 1e9


def report(case, official_ms, ours_ms):
    print(f"| {case} | {official_ms:10.3f} | {ours_ms:10.3f} | {ours_ms / official_ms:6.3f} | {official_ms / ours_ms:6.1f}x |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--shape", nargs="+", default=["small", "coco"], choices=sorted(SHAPES))
    parser.add_argument("--batch", nargs="+", type=int, default=[2, 8])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""))
    bandwidth = copy_bandwidth_gbs(device, args.repeats)
    print(f"measured copy bandwidth: {bandwidth:.0f} GB/s\n")
    print("| case | official ms | vectorised ms | ratio vec/off | speed-up |")
    print("|---|---:|---:|---:|---:|")

    for shape in args.shape:
        height, width = SHAPES[shape]
        sizes = level_sizes(height, width)
        for batch in args.batch:
            for count in (20, 100):
                boxes = gt_boxes(height, width, batch, count, device)
                off, vec = official_masks(boxes, sizes), vectorised_masks(boxes, sizes)
                assert all(torch.equal(a.float(), b) for a, b in zip(off, vec)), "masks differ"
                report(f"masks {shape} B={batch} {count} boxes/img",
                       median_ms(lambda: official_masks(boxes, sizes), device, args.repeats),
                       median_ms(lambda: vectorised_masks(boxes, sizes), device, args.repeats))

            student = [f.requires_grad_() for f in neck_features(sizes, batch, device, seed=1)]
            teacher = neck_features(sizes, batch, device, seed=2)
            masks64 = official_masks(gt_boxes(height, width, batch, NECK_BOXES_PER_IMAGE, device), sizes)
            masks32 = [m.float() for m in masks64]
            a, b = official_neck_loss(student, teacher, masks64), vectorised_neck_loss(student, teacher, masks32)
            assert math.isclose(a.item(), b.item(), rel_tol=1e-3), f"neck loss differs: {a.item()} vs {b.item()}"

            def backward(loss):
                loss.backward()
                for f in student:
                    f.grad = None

            report(f"neck fwd {shape} B={batch}",
                   median_ms(lambda: official_neck_loss(student, teacher, masks64), device, args.repeats),
                   median_ms(lambda: vectorised_neck_loss(student, teacher, masks32), device, args.repeats))
            official_ms = median_ms(lambda: backward(official_neck_loss(student, teacher, masks64)), device, args.repeats)
            ours_ms = median_ms(lambda: backward(vectorised_neck_loss(student, teacher, masks32)), device, args.repeats)
            report(f"neck fwd+bwd {shape} B={batch}", official_ms, ours_ms)
            elements = sum(f.numel() for f in student)
            floor_ms = 12 * elements / (bandwidth * 1e9) * 1e3  # read S and T, write dL/dS: 3 x 4 bytes per element
            print(f"|   bandwidth floor fwd+bwd {shape} B={batch}: {12 * elements / 1e9:.3f} GB -> {floor_ms:.3f} ms;"
                  f" vectorised at {ours_ms / floor_ms:.1f}x the floor | | | | |")
            del student, teacher, masks64, masks32

    for batch in args.batch:
        s, t, labels = proposal_logits(ROIS_PER_IMAGE * batch, device)
        s.requires_grad_()
        a, b = official_proposal_kd(s, t, labels), vectorised_proposal_kd(s, t, labels)
        assert math.isclose(a.item(), b.item(), rel_tol=1e-4), f"proposal KD differs: {a.item()} vs {b.item()}"

        def kd_step(loss_fn):
            loss_fn(s, t, labels).backward()
            s.grad = None

        report(f"proposal KD fwd+bwd R={ROIS_PER_IMAGE * batch}",
               median_ms(lambda: kd_step(official_proposal_kd), device, args.repeats),
               median_ms(lambda: kd_step(vectorised_proposal_kd), device, args.repeats))


if __name__ == "__main__":
    main()
