/* Empty on purpose: kaleido loads this instead of MathJax from a CDN (no chart uses LaTeX). */
