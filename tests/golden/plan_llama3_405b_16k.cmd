plan --model llama3-405b --cluster dgx-h100 --gpus 16384 --global-batch 2048 --seq 8192 --top 5
