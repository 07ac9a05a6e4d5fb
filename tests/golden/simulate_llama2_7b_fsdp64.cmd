simulate --model llama2-7b --cluster dgx-h100 --gpus 64 --global-batch 512 --seq 4096 --layout tp=1,fsdp=64,zero=3,mbs=2
