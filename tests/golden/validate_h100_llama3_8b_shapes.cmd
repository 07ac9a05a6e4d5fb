validate --plan data/measurements/nvidia-h100-80gb-hbm3-20261205-llama3-8b-4-layers.plan.json --show data/measurements/nvidia-h100-80gb-hbm3-20261205-llama3-8b-4-layers.json
