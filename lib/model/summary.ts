// model.summary(): per layer its output shape, parameters, receptive field
// (size and jump in input pixels) and multiply-accumulates, with totals.
import type { ReceptiveField, Shape, SymbolicTensor } from '../layers/layer';

export interface LayerSummary {
  name: string;
  className: string;
  outputShape: Shape;
  params: number;
  trainableParams: number;
  receptiveField?: ReceptiveField;
  macs: number;
  inbound: string[];
}

export interface ModelSummary {
  layers: LayerSummary[];
  totalParams: number;
  trainableParams: number;
  totalMacs: number;
}

export function summarize(nodes: SymbolicTensor[]): ModelSummary {
  const fields = new Map<number, ReceptiveField>();
  const layers: LayerSummary[] = [];
  for (const node of nodes) {
    const inputShapes = node.inputs.map((input) => input.shape);
    let field: ReceptiveField;
    if (node.inputs.length === 0) field = { size: [1, 1], jump: [1, 1] };
    else field = node.layer.receptiveField(node.inputs.map((input) => fields.get(input.id)!), inputShapes);
    fields.set(node.id, field);
    const defs = node.layer.paramDefs(inputShapes);
    const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
    layers.push({
      name: node.layer.name,
      className: node.layer.className,
      outputShape: node.shape,
      params: defs.reduce((sum, def) => sum + count(def.shape), 0),
      trainableParams: defs.filter((def) => def.trainable).reduce((sum, def) => sum + count(def.shape), 0),
      receptiveField: field,
      macs: node.inputs.length === 0 ? 0 : node.layer.macs(inputShapes, node.shape),
      inbound: node.inputs.map((input) => input.layer.name),
    });
  }
  return {
    layers,
    totalParams: layers.reduce((sum, layer) => sum + layer.params, 0),
    trainableParams: layers.reduce((sum, layer) => sum + layer.trainableParams, 0),
    totalMacs: layers.reduce((sum, layer) => sum + layer.macs, 0),
  };
}

function thousands(value: number): string {
  return value.toLocaleString('en-US');
}

export function formatSummary(modelName: string, summary: ModelSummary, showInbound: boolean): string {
  const rows = summary.layers.map((layer) => [
    `${layer.name} (${layer.className})`,
    `[${layer.outputShape.join(', ')}]`,
    thousands(layer.params),
    layer.receptiveField ? `${layer.receptiveField.size[0]}x${layer.receptiveField.size[1]} / ${layer.receptiveField.jump[0]}` : '',
    thousands(layer.macs),
    ...(showInbound ? [layer.inbound.join(', ')] : []),
  ]);
  const header = ['Layer (type)', 'Output shape', 'Params', 'RF / jump', 'MACs', ...(showInbound ? ['Inputs'] : [])];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column >= 2 && column !== 3 && column !== 5 ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ').trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  return [
    `Model: ${modelName}`,
    rule,
    line(header),
    rule,
    ...rows.map(line),
    rule,
    `Total params: ${thousands(summary.totalParams)}`,
    `Trainable params: ${thousands(summary.trainableParams)}`,
    `Non-trainable params: ${thousands(summary.totalParams - summary.trainableParams)}`,
    `Multiply-accumulates per sample: ${thousands(summary.totalMacs)}`,
    rule,
  ].join('\n');
}
