#!/bin/bash
# Monitor all active downloads

monitor_downloads() {
    echo "Monitoring active downloads..."
    
    while true; do
        # Get all models that might be downloading
        response=$(curl -s "http://localhost:8000/models")
        
        loading_models=$(echo "$response" | jq -r '.models[] | select(.status == "loading") | .name')
        
        if [[ -n "$loading_models" ]]; then
            echo "$(date): Active downloads:"
            for model in $loading_models; do
                echo "  - $model"
            done
        else
            echo "$(date): No active downloads"
        fi
        
        sleep 10
    done
}

# Check download by ID
check_download() {
    local download_id="$1"
    
    if [[ -z "$download_id" ]]; then
        echo "Usage: check_download <download_id>"
        return 1
    fi
    
    curl -s "http://localhost:8000/model-download/${download_id}/progress" | jq '.'
}

# Usage
monitor_downloads
