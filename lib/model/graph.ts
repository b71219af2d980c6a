// The DAG behind a model: its nodes (SymbolicTensors) in topological order.
import { InputLayer } from '../layers/core';
import { Layer, SymbolicTensor } from '../layers/layer';

/** Every tensor the output depends on, inputs first, each after its inputs. */
export function topologicalOrder(output: SymbolicTensor): SymbolicTensor[] {
  const order: SymbolicTensor[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  // Iterative depth-first search: deep ResNets must not overflow the stack.
  const stack: Array<{ tensor: SymbolicTensor; next: number }> = [{ tensor: output, next: 0 }];
  state.set(output.id, 'visiting');
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top.next < top.tensor.inputs.length) {
      const child = top.tensor.inputs[top.next++];
      const seen = state.get(child.id);
      if (seen === 'visiting') throw new Error(`kiln.model: the graph has a cycle through layer '${child.layer.name}'`);
      if (seen === undefined) {
        state.set(child.id, 'visiting');
        stack.push({ tensor: child, next: 0 });
      }
    } else {
      state.set(top.tensor.id, 'done');
      order.push(top.tensor);
      stack.pop();
    }
  }
  return order;
}

export interface GraphCheck {
  nodes: SymbolicTensor[];
  layers: Layer[];
}

/** Orders the graph and checks it has exactly the given input and unique layer names. */
export function checkGraph(inputTensor: SymbolicTensor, output: SymbolicTensor): GraphCheck {
  const nodes = topologicalOrder(output);
  const inputs = nodes.filter((node) => node.layer instanceof InputLayer);
  if (!inputs.includes(inputTensor)) {
    throw new Error(`kiln.model: the output '${output.layer.name}' does not depend on the input '${inputTensor.layer.name}'`);
  }
  if (inputs.length > 1) {
    throw new Error(`kiln.model: only single-input models are supported, but the graph has inputs ${inputs.map((i) => `'${i.layer.name}'`).join(', ')}`);
  }
  const layers: Layer[] = [];
  const names = new Map<string, Layer>();
  for (const node of nodes) {
    const existing = names.get(node.layer.name);
    if (existing && existing !== node.layer) throw new Error(`kiln.model: two layers are named '${node.layer.name}'; layer names must be unique`);
    if (existing === node.layer) {
      throw new Error(`kiln.model: layer '${node.layer.name}' is applied more than once; create a new layer for each use`);
    }
    names.set(node.layer.name, node.layer);
    layers.push(node.layer);
  }
  return { nodes, layers };
}
