"""Gradients asked for a variable and for a plain tensor the tape never watches: the tensor's is None."""
import tensorflow as tf

w = tf.Variable(2.0, name="w")
x = tf.constant(3.0)
with tf.GradientTape() as tape:
    y = w * x
dw, dx = tape.gradient(y, [w, x])
print(f"dy/dw = {dw}, dy/dx = {dx}")
