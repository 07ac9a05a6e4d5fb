plan --model llama2-70b --cluster dgx-h100 --gpus 2048 --global-batch 1024 --seq 4096 --top 5
