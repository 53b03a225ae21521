using FasterRcnnDistillation.Data;
using FasterRcnnDistillation.Model;
using TorchSharp;
using static TorchSharp.torch;

var (train, val) = SyntheticShapes.Splits(64, 4, 7, 128);
int seed = int.Parse(args[0]);
if (args.Length > 1) torch.set_num_threads(int.Parse(args[1]));
manual_seed(seed);
var order = new Random(1);
var model = new FasterRcnn(DetectorConfig.Teacher(5));
model.train();
var permutation = Enumerable.Range(0, train.Count).OrderBy(_ => order.Next()).ToArray();
var parameters = model.parameters().ToList();
var optimizer = optim.AdamW(parameters, 1e-4, weight_decay: 1e-4);
for (int b = 0; b < 4; b++)
{
// no scope
using var batch = DetectionBatch.Collate(permutation.Skip(b * 8).Take(8).Select(i => train.Samples[i]).ToList(), CPU);
var output = model.TrainingForward(batch);
var total = output.Losses.Values.Aggregate((a, c) => a + c);
optimizer.zero_grad();
total.backward();
var bad = model.named_parameters().Where(np => np.parameter.grad is not null && !np.parameter.grad.isfinite().all().item<bool>()).Select(np => np.name).ToList();
Console.WriteLine($"step {b} total={total.item<float>():F6} badgrads={bad.Count} first={bad.FirstOrDefault()}");
nn.utils.clip_grad_norm_(parameters, 10.0);
optimizer.step();
}
