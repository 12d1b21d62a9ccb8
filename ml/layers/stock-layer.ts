import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';

/**
 * A tfjs-layers class by its Keras name, from the registry tfjs-layers fills as it loads. The package exports its
 * layer classes only through factory functions, and making a layer just to reach its class would use up one of
 * the numbers the models' layers are named by.
 */
export function stockLayerClass<C>(className: string): C {
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`tfjs-layers registers no layer class named ${className}`);
  return entry[0] as unknown as C;
}
