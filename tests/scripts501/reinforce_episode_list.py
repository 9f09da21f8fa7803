"""REINFORCE on a toy corridor (Keras 3): log-probabilities are collected while the episode is played and
the tape opens only afterwards, so it records none of the policy's forward passes."""
import numpy as np
import tensorflow as tf


class Corridor:
    def __init__(self, length=5):
        self.length, self.position = length, 0

    def reset(self):
        self.position = 0
        return self._state()

    def step(self, action):
        self.position = max(0, self.position + (1 if action == 1 else -1))
        done = self.position >= self.length
        return self._state(), (1.0 if done else -0.1), done or self.position == 0 and action == 0

    def _state(self):
        return np.eye(self.length + 1, dtype="float32")[self.position][:4]


policy = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(8, activation="relu", name="hidden"),
                              tf.keras.layers.Dense(2, name="action_logits")], name="policy")
optimizer = tf.keras.optimizers.Adam(1e-2)
env = Corridor()
tf.random.set_seed(0)
for episode in range(2):
    state, done, steps = env.reset(), False, 0
    log_probs, rewards = [], []
    while not done and steps < 20:
        logits = policy(state[None])
        action = int(tf.random.categorical(logits, 1)[0, 0])
        log_probs.append(tf.nn.log_softmax(logits)[0, action])
        state, reward, done = env.step(action)
        rewards.append(reward)
        steps += 1
    returns = np.cumsum(rewards[::-1])[::-1].astype("float32")
    with tf.GradientTape() as tape:
        loss = -tf.reduce_sum(tf.stack(log_probs) * returns)
    grads = tape.gradient(loss, policy.trainable_variables)
    optimizer.apply_gradients(zip(grads, policy.trainable_variables))
