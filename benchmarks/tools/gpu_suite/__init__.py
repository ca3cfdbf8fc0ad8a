"""The GPU suite's Python parts, run by ``benchmarks/gpu_suite.sh OUT_DIR`` (docs/gpu-suite.md).

The suite exists because the CUDA path had never run: a lent GPU machine gives minutes,
once, so everything worth checking there is prepared and dry-run on a CPU first and then
runs in one call. Each part is a module run as ``python -m benchmarks.tools.gpu_suite.NAME
--out DIR`` (``--quick``: CPU-sized dry run), writing a Markdown fragment and, for
measurements, one JSON line per result as soon as it exists, so a part killed at its time
limit still leaves what it measured:

* :mod:`.env` - part 1's check that every package graphspec imports is there;
* :mod:`.crosscheck` - box IoU, NMS and the RoI ops against ``torchvision.ops``;
* :mod:`.spec_timing` - train step, latency, throughput and peak memory per spec and mode;
* :mod:`.tv_timing` - the same for torchvision's VGG16 and SSD300, with the ratios;
* :mod:`.unpool` - the summing unpool against ``F.max_unpool2d``;
* :mod:`.summary` - the table of every part's state in ``summary.md``.

The rest are their pieces: :mod:`.records` (results files and tables), :mod:`.deadline`,
:mod:`.modes` (fp32 / bf16 + channels_last / compiled), :mod:`.subjects` (a spec as a
model, a loss and a batch), :mod:`.tv_subjects`, :mod:`.measure` and :mod:`.schedule`.
"""

EXIT_SKIPPED = 3
"""A part's exit status when it cannot run here (no CUDA, no torchvision): the suite
records it as skipped, with the part's last printed line as the reason."""
