# The ModelDownloader client from ../shared/seeds/001 ("Python Model Downloader"),
# copied unchanged (test_seed_clients.py checks it still matches the seed when shared/
# is beside the repository). Only the usage examples after the class are left out.
import requests
import time
import json
from typing import Dict, Optional, Callable

class ModelDownloader:
    def __init__(self, base_url="http://localhost:8000"):
        self.base_url = base_url
    
    def download_model(
        self,
        model_name: str,
        version: str = "latest",
        download_url: Optional[str] = None,
        source: str = "default",
        force_download: bool = False,
        progress_callback: Optional[Callable] = None,
        **options
    ) -> Dict:
        """
        Download a model with progress monitoring
        """
        payload = {
            "model_name": model_name,
            "version": version,
            "source": source,
            "force_download": force_download
        }
        
        if download_url:
            payload["download_url"] = download_url
        
        if options:
            payload["options"] = options
        
        try:
            print(f"Starting download of {model_name} v{version}...")
            response = requests.post(
                f"{self.base_url}/model-download",
                json=payload,
                timeout=10
            )
            response.raise_for_status()
            result = response.json()
            
            # Handle asynchronous download
            if result.get('status') == 'started' and 'download_id' in result:
                return self._monitor_download(result['download_id'], progress_callback)
            
            return result
            
        except requests.exceptions.RequestException as e:
            print(f"Download failed: {e}")
            return {"status": "failed", "error": str(e)}
    
    def _monitor_download(self, download_id: str, progress_callback: Optional[Callable] = None) -> Dict:
        """Monitor asynchronous download progress"""
        progress_url = f"{self.base_url}/model-download/{download_id}/progress"
        
        while True:
            try:
                response = requests.get(progress_url)
                response.raise_for_status()
                progress_data = response.json()
                
                status = progress_data.get('status')
                
                # Call progress callback if provided
                if progress_callback:
                    progress_callback(progress_data)
                else:
                    self._print_progress(progress_data)
                
                if status in ['completed', 'failed']:
                    return progress_data
                
                time.sleep(2)  # Poll every 2 seconds
                
            except requests.exceptions.RequestException as e:
                print(f"Error checking progress: {e}")
                return {"status": "failed", "error": str(e)}
    
    def _print_progress(self, progress_data: Dict):
        """Default progress printer"""
        if 'progress' in progress_data:
            progress = progress_data['progress']
            percentage = progress.get('percentage', 0)
            speed = progress.get('speed_mbps', 0)
            eta = progress.get('eta_seconds', 0)
            stage = progress.get('current_stage', 'unknown')
            
            bar_length = 40
            filled_length = int(bar_length * percentage / 100)
            bar = '█' * filled_length + '-' * (bar_length - filled_length)
            
            print(f"\r[{bar}] {percentage:.1f}% | "
                  f"{speed:.1f} MB/s | ETA: {eta}s | Stage: {stage}", end='', flush=True)
            
            if progress_data.get('status') in ['completed', 'failed']:
                print()  # New line when done
    
    def download_batch(self, models: list, max_concurrent: int = 2) -> Dict:
        """
        Download multiple models with concurrency control
        """
        import concurrent.futures
        import threading
        
        results = {}
        semaphore = threading.Semaphore(max_concurrent)
        
        def download_with_semaphore(model_config):
            with semaphore:
                model_name = model_config.get('model_name')
                try:
                    result = self.download_model(**model_config)
                    return model_name, result
                except Exception as e:
                    return model_name, {"status": "failed", "error": str(e)}
        
        print(f"Downloading {len(models)} models with {max_concurrent} concurrent downloads...")
        
        with concurrent.futures.ThreadPoolExecutor(max_workers=max_concurrent) as executor:
            future_to_model = {
                executor.submit(download_with_semaphore, model_config): model_config['model_name']
                for model_config in models
            }
            
            for future in concurrent.futures.as_completed(future_to_model):
                model_name = future_to_model[future]
                try:
                    name, result = future.result()
                    results[name] = result
                    status = result.get('status', 'unknown')
                    print(f"✅ {name}: {status}")
                except Exception as e:
                    results[model_name] = {"status": "failed", "error": str(e)}
                    print(f"❌ {model_name}: failed - {e}")
        
        return results
    
    def verify_download(self, model_name: str, version: str = "latest") -> bool:
        """Verify that a downloaded model is working"""
        try:
            # Check if model is available
            models_response = requests.get(f"{self.base_url}/models")
            models_response.raise_for_status()
            models_data = models_response.json()
            
            for model in models_data.get('models', []):
                if (model['name'] == model_name and 
                    model['version'] == version and 
                    model['status'] in ['loaded', 'available']):
                    print(f"✅ Model {model_name} v{version} verified successfully")
                    return True
            
            print(f"❌ Model {model_name} v{version} not found or not ready")
            return False
            
        except Exception as e:
            print(f"❌ Verification failed: {e}")
            return False
    
    def get_download_status(self, download_id: str) -> Dict:
        """Get status of a specific download"""
        try:
            response = requests.get(f"{self.base_url}/model-download/{download_id}/progress")
            response.raise_for_status()
            return response.json()
        except requests.exceptions.RequestException as e:
            return {"status": "failed", "error": str(e)}
